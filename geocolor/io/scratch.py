"""Scratch folders beside a job's output, removed when the job ends and swept when stale.

A job's temporary files (the scene computed onto its grid, the COG being staged) go into
a hidden folder next to the output, ``.OUT.tif.geocolor-tmp-HOST-PID-RANDOM``: on the
disk that must hold the output anyway, and where the next job writing there looks. The
folder goes when the job ends, by an error or a signal turned into one (see
:mod:`geocolor.cli.signals`); only ``kill -9`` or a crash leaves it, and then the next
job that makes scratch in that place removes it once its owner is gone: the process
on this host is dead, or the folder has not changed for :data:`STALE_AFTER`.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec

from geocolor.io.filesystems import is_remote
from geocolor.io.processes import host_name, process_alive

log = logging.getLogger("geocolor.io.scratch")

MARK = "geocolor-tmp"
"""In every scratch folder's name, before its owner's host, PID and a random part."""
STALE_AFTER = 2 * 24 * 3600.0
"""Seconds after which a scratch folder is stale even if its PID is alive (reused, or
on another host sharing the disk): no job keeps scratch unchanged that long."""


@contextmanager
def scratch_folder(beside: str | None = None) -> Iterator[Path]:
    """A new private folder for temporary files, removed however the block ends.

    Parameters
    ----------
    beside
        The job's output: the folder is made next to it when it is a local path whose
        folder exists; else (a URL, None) in the system's temporary folder.
    """
    home, prefix = _home(beside)
    sweep_stale(home)
    folder = Path(tempfile.mkdtemp(prefix=prefix + owner_tag(os.getpid()), dir=home))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_stale(home: Path) -> list[Path]:
    """Remove the stale scratch folders in ``home``; the removed ones.

    A folder is stale when its owner process, on this host, is gone, or when it has
    not changed for :data:`STALE_AFTER` seconds. Live jobs' folders are kept.
    """
    removed = []
    for entry in home.glob(f"*{MARK}-*"):
        owner = _owner(entry.name)
        if owner is None or not entry.is_dir() or entry.is_symlink():
            continue
        if _stale(entry, *owner):
            shutil.rmtree(entry, ignore_errors=True)
            log.info("removed stale scratch %s", entry)
            removed.append(entry)
    return removed


def owner_tag(pid: int) -> str:
    """The part of a scratch folder's name that says whose it is (the random part follows)."""
    return f"{MARK}-{host_name()}-{pid}-"


def _home(beside: str | None) -> tuple[Path, str]:
    """The folder to make scratch in, and the name prefix tying it to the output."""
    if beside is not None and not is_remote(beside):
        output = Path(fsspec.core.url_to_fs(beside)[1])
        if output.parent.is_dir():
            return output.parent, f".{output.name}."
    return Path(tempfile.gettempdir()), ""


def _owner(name: str) -> tuple[str, int] | None:
    """(host, PID) from a scratch folder's name; None for any other name."""
    _, mark, owner = name.rpartition(f"{MARK}-")
    fields = owner.rsplit("-", 2)
    if not mark or len(fields) != 3 or not fields[1].isdigit():
        return None
    return fields[0], int(fields[1])


def _stale(folder: Path, host: str, pid: int) -> bool:
    try:
        age = time.time() - folder.stat().st_mtime
    except FileNotFoundError:
        return False  # its owner removed it meanwhile
    if age > STALE_AFTER:
        return True
    return host == host_name() and not process_alive(pid)
