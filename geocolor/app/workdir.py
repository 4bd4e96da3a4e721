"""The app's work folder kept under a size cap, least recently used entries first.

Uploads and results each live in a folder of their own (named by a hash) directly
under a root. When the roots together outgrow the cap, whole entries go, oldest use
first, except those a running job holds; an entry's use is its folder's modification
time, which :func:`touch` moves on whenever the page uses it. Hidden entries (an
upload being received) are neither counted nor removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Collection, Iterable
from pathlib import Path

log = logging.getLogger("geocolor.app.workdir")


def touch(folder: Path) -> None:
    """Mark ``folder`` as just used."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(folder)


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed)."""
    if not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            total += Path(folder, name).lstat().st_size
    return total


def evict(roots: Iterable[Path], cap_bytes: int, keep: Collection[Path] = ()) -> list[Path]:
    """Remove least recently used entries of ``roots`` until they fit in ``cap_bytes``.

    Parameters
    ----------
    roots
        Folders whose direct entries are uploads or results.
    cap_bytes
        Most bytes the roots may hold together.
    keep
        Entries never removed (those of running jobs), even when the cap stays exceeded.

    Returns
    -------
    list of Path
        The entries removed, oldest first.
    """
    entries = []
    for root in roots:
        if root.is_dir():
            entries += [entry for entry in root.iterdir() if not entry.name.startswith(".")]
    sized = []
    for entry in entries:
        try:
            sized.append((entry.stat().st_mtime_ns, tree_size(entry), entry))
        except FileNotFoundError:  # removed meanwhile by another session
            continue
    total = sum(size for _, size, _ in sized)
    kept = {Path(path) for path in keep}
    removed = []
    for _, size, entry in sorted(sized):
        if total <= cap_bytes:
            break
        if entry in kept:
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(
            missing_ok=True
        )
        log.info("work folder over its cap: removed %s", entry.name)
        removed.append(entry)
        total -= size
    return removed
