"""One writer at a time on a store: a lock file beside it, ``STORE.lock``.

Two ``prepare`` runs writing one store would delete and rewrite each other's pairs
mid-flight. The writer creates ``STORE.lock`` atomically, holding its PID, host, start
time and a random token, and removes it when it ends, by an error or a signal turned
into one (:mod:`geocolor.cli.signals`). A second writer fails at once naming the
holder, or waits for it.

Only ``kill -9``, a crash or a lost machine leave the file; it is then *stale* and the
next writer takes it over with a warning: the holder's PID is dead on this host, or
the lock is older than ``stale_after`` (a holder on another host cannot be asked).
``break_lock`` removes a lock its user knows is dead.

Creation is atomic where the filesystem allows: locally the file is written whole
under a private name and hard-linked to ``STORE.lock`` (a link never replaces a
file); on ``gs://`` it is created with a generation-match precondition (``xb``
mode: the upload fails when the object exists). A filesystem with neither checks and
then writes, and reads its token back: two writers starting in the same instant there
can both believe they hold it. Taking over a stale lock reads it, then removes it
if it still holds the same token: two writers taking over one stale lock in the same
instant are not told apart either.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem

from geocolor.errors import GeocolorError
from geocolor.io.processes import host_name, process_alive

log = logging.getLogger("geocolor.io.locks")

SUFFIX = ".lock"
STALE_AFTER = 24 * 3600.0
"""Seconds after which a lock held from another host is stale: no run lasts that long
without finishing a pair, and its host cannot be asked whether the PID lives."""
POLL = 0.5
"""Seconds between looks at a held lock while waiting for it."""
_UNREADABLE_GRACE = 10.0
"""Seconds a lock file that cannot be parsed is left alone (a writer may be mid-way)."""


@dataclass(frozen=True)
class LockHolder:
    """Whose a lock is: process, host, since when (Unix time) and a random token."""

    pid: int
    host: str
    since: float
    token: str

    def describe(self) -> str:
        """'PID 123 on host since 2026-12-05 16:10:00 UTC'."""
        started = datetime.fromtimestamp(self.since, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"PID {self.pid} on {self.host} since {started}"

    def stale_because(self, stale_after: float) -> str | None:
        """Why the holder is surely gone; None while it may be alive."""
        if self.host == host_name() and not process_alive(self.pid):
            return "its process is gone"
        age = time.time() - self.since
        if age > stale_after:
            return f"it is {age / 3600:.1f} h old"
        return None


def lock_path(store: str) -> str:
    """The lock file of ``store`` (a path or URL): beside it, ``STORE.lock``."""
    return store.rstrip("/") + SUFFIX


@contextmanager
def store_lock(
    store: str,
    *,
    wait: float = 0.0,
    break_lock: bool = False,
    stale_after: float = STALE_AFTER,
) -> Iterator[LockHolder]:
    """Hold the lock of ``store`` for the block; removed however the block ends.

    Parameters
    ----------
    store
        The store's path or URL; the lock is :func:`lock_path` of it.
    wait
        Seconds to wait for a live holder before failing (0: fail at once).
    break_lock
        Remove a held lock first, as its user knows its holder is dead.
    stale_after
        Age in seconds after which another host's lock counts as stale.

    Raises
    ------
    GeocolorError
        The lock is held by a live writer (after ``wait`` seconds), naming it.
    """
    path = lock_path(store)
    fs, fs_path = fsspec.core.url_to_fs(path)
    me = LockHolder(os.getpid(), host_name(), time.time(), secrets.token_hex(8))
    _acquire(fs, fs_path, path, me, wait, break_lock, stale_after)
    try:
        yield me
    finally:
        _release(fs, fs_path, me)


def _acquire(
    fs: AbstractFileSystem,
    fs_path: str,
    path: str,
    me: LockHolder,
    wait: float,
    break_lock: bool,
    stale_after: float,
) -> None:
    deadline = time.monotonic() + wait
    waiting = False
    while not _create(fs, fs_path, me):
        holder = _read(fs, fs_path)
        if holder is None:
            time.sleep(POLL / 5)  # removed meanwhile, or being written: look again
            continue
        if break_lock:
            log.warning("%s: breaking the lock of %s, as asked", path, holder.describe())
            _remove_if(fs, fs_path, holder)
            break_lock = False
            continue
        reason = holder.stale_because(stale_after)
        if reason is not None:
            log.warning(
                "%s: taking over the stale lock of %s (%s)", path, holder.describe(), reason
            )
            _remove_if(fs, fs_path, holder)
            continue
        left = deadline - time.monotonic()
        if left <= 0:
            raise GeocolorError(
                f"{path}: the store is being written by {holder.describe()}; "
                + ("it did not finish in time" if wait else "wait for it with --wait-lock SECONDS")
                + ", or use --break-lock if that run is dead"
            )
        if not waiting:
            log.warning("%s: waiting up to %.0f s for %s", path, wait, holder.describe())
            waiting = True
        time.sleep(min(POLL, left))


def _create(fs: AbstractFileSystem, fs_path: str, me: LockHolder) -> bool:
    """Create the lock file holding ``me``; False if it exists."""
    body = json.dumps(asdict(me)).encode()
    if isinstance(fs, LocalFileSystem):
        return _create_local(fs_path, body)
    fs.makedirs(posixpath.dirname(fs_path), exist_ok=True)
    try:
        with fs.open(fs_path, "xb") as stream:
            stream.write(body)
    except FileExistsError:
        return False
    except (NotImplementedError, ValueError):
        # no exclusive create here: check, write and read back (see the module's note)
        if fs.exists(fs_path):
            return False
        fs.pipe_file(fs_path, body)
        held = _read(fs, fs_path)
        return held is not None and held.token == me.token
    return True


def _create_local(fs_path: str, body: bytes) -> bool:
    """Write ``body`` under a private name, then link it to the lock (never replacing one)."""
    lock = Path(fs_path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    private = lock.with_name(f".{lock.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with private.open("wb") as stream:
        stream.write(body)
        stream.flush()
        os.fsync(stream.fileno())
    try:
        lock.hardlink_to(private)
    except FileExistsError:
        return False
    finally:
        private.unlink()
    return True


def _read(fs: AbstractFileSystem, fs_path: str) -> LockHolder | None:
    """The lock's holder; None if there is no lock, or one still being written.

    A lock that stays unreadable past a short grace (a crash mid-write, a stray
    file) reads as a holder long dead, so that it is taken over.
    """
    try:
        raw = fs.cat_file(fs_path)
    except FileNotFoundError:
        return None
    try:
        fields: dict[str, Any] = json.loads(raw)
        return LockHolder(
            int(fields["pid"]), str(fields["host"]), float(fields["since"]), str(fields["token"])
        )
    except (ValueError, KeyError, TypeError):
        try:
            modified = fs.modified(fs_path).timestamp()
        except (FileNotFoundError, NotImplementedError):
            return None
        if time.time() - modified < _UNREADABLE_GRACE:
            return None
        return LockHolder(0, "unknown", 0.0, "")


def _remove_if(fs: AbstractFileSystem, fs_path: str, holder: LockHolder) -> None:
    """Remove the lock if it is still ``holder``'s (another writer may have taken it)."""
    current = _read(fs, fs_path)
    if current is not None and current.token == holder.token:
        with suppress(FileNotFoundError):
            fs.rm_file(fs_path)


def _release(fs: AbstractFileSystem, fs_path: str, me: LockHolder) -> None:
    try:
        _remove_if(fs, fs_path, me)
    except OSError as exc:
        log.warning("%s: could not remove the lock (%s)", fs.unstrip_protocol(fs_path), exc)
