"""Where a command may write: checked before any work, so nothing is lost or wasted.

An output that is an input (``process-s1 Z.zip -o Z.zip``) or lies inside one
(``-o SAFE/measurement/x.tiff``, ``prepare -o <a SAFE>``) would destroy that input; a
folder given for a file, a folder that is not a store given for a store, or a folder
that is missing or not writable would only fail, or worse succeed wrongly, after the
whole computation. :func:`check_output` refuses all of these up front as usage errors.

Local paths are compared after resolving symbolic links (and, where both exist, by
file identity, which catches hard links); URLs are compared as normalised URLs.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geocolor.errors import UsageError
from geocolor.io.filesystems import is_remote

OutputKind = Literal["file", "folder", "store"]
"""What the output is: one file (a COG), a folder the command adds named files to, or a
Zarr store (a folder whose whole tree the store owns)."""

# one spelling per storage service, so gcs://b/x and gs://b/x compare equal
_PROTOCOL_ALIASES = {"gcs": "gs", "s3a": "s3"}


@dataclass(frozen=True)
class Location:
    """A path or URL in the one spelling used for comparing them."""

    protocol: str
    path: str

    def contains(self, other: Location) -> bool:
        """Whether ``other`` is this location or lies below it."""
        if self.protocol != other.protocol:
            return False
        return other.path == self.path or other.path.startswith(self.path.rstrip("/") + "/")


def location(path: str) -> Location:
    """``path`` resolved (symbolic links followed, ``~`` expanded) or the URL normalised."""
    if is_remote(path):
        protocol, _, rest = path.partition("://")
        protocol = _PROTOCOL_ALIASES.get(protocol.lower(), protocol.lower())
        return Location(protocol, posixpath.normpath("/" + rest.strip("/")))
    local = path.partition("://")[2] if "://" in path else path
    return Location("file", str(Path(local).expanduser().resolve()))


def check_output(
    output: str, inputs: Iterable[str | None], kind: OutputKind, option: str = "-o"
) -> None:
    """Refuse an output that would destroy an input or that cannot be written.

    Parameters
    ----------
    output
        The path or URL the command writes.
    inputs
        Everything the command reads (products, models, AOI and config files...); None
        and local paths that do not exist (bboxes, ``models:/`` URIs) are ignored.
    kind
        ``"file"``: an existing folder is refused and the parent folder must exist.
        ``"folder"``: created with its parents if missing. ``"store"``: like a folder,
        but an existing non-empty folder must already be a store, and no input may lie
        inside it.
    option
        The option naming the output, for messages.

    Raises
    ------
    UsageError
        Before any work, with one line saying what is wrong.
    """
    target = location(output)
    for given in inputs:
        if given is None or not _exists(given):
            continue
        source = location(given)
        same = target == source or _same_file(output, given)
        if same or source.contains(target):
            where = "is" if same else "lies inside"
            raise UsageError(
                f"{option} {output} {where} the input {given}; writing it would destroy "
                "the input, so choose another output"
            )
        if kind == "store" and target.contains(source):
            raise UsageError(
                f"{option} {output}: the input {given} lies inside the store, which the "
                "store's writes may replace; choose another output"
            )
    if target.protocol == "file":
        _check_local(Path(target.path), output, kind, option)


def _exists(path: str) -> bool:
    """Remote inputs count as present; local ones only when the path exists."""
    return is_remote(path) or os.path.lexists(location(path).path)


def _same_file(output: str, given: str) -> bool:
    """Both local, both present, and one file (a hard link or another mount of it)."""
    if is_remote(output) or is_remote(given):
        return False
    first, second = Path(location(output).path), Path(location(given).path)
    return first.exists() and second.exists() and first.samefile(second)


def _check_local(path: Path, output: str, kind: OutputKind, option: str) -> None:
    if kind == "file":
        if path.is_dir():
            raise UsageError(
                f"{option} {output} is a folder; give the output file's name "
                f"(e.g. {posixpath.join(output, 'out.tif')})"
            )
        if not path.parent.is_dir():
            raise UsageError(f"{option} {output}: the folder {path.parent} does not exist")
        _require_writable(path.parent, output, option)
        return
    if path.exists():
        if not path.is_dir():
            raise UsageError(f"{option} {output} is a file, not a folder")
        if kind == "store" and any(path.iterdir()) and not is_store(path):
            raise UsageError(
                f"{option} {output} is a folder that is not a Zarr store; give a new "
                "folder or an existing store to extend"
            )
        _require_writable(path, output, option)
        return
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{option} {output}: {ancestor} is a file, not a folder")
    _require_writable(ancestor, output, option)


def is_store(path: Path) -> bool:
    """Whether a local folder is a Zarr store (version 3's ``zarr.json`` or version 2's)."""
    return (path / "zarr.json").is_file() or (path / ".zgroup").is_file()


def _require_writable(folder: Path, output: str, option: str) -> None:
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {output}: the folder {folder} is not writable")
