"""Accepting a scene a stranger uploads: size-capped, checked, and extracted safely.

An upload is untrusted bytes under an untrusted name. It is written under a name of our
own choosing, must start like a GeoTIFF or a zip, and a zip must be a single Sentinel-1
SAFE folder whose entries cannot escape the destination (no absolute paths, no ``..``,
no links) and cannot blow up on extraction (caps on the total size, on the compression
ratio and on the bytes actually written, whatever the headers claim). Once extracted,
the product must pass the checks every product passes (see
:mod:`geocolor.io.product_files`): hrefs inside it, measurements that are GeoTIFFs.

Each accepted upload gets a folder named by a hash of its bytes, so the same file
uploaded again (by anyone, under any name) is recognised and reused instead of kept
twice. The folder appears in one rename once the upload is accepted: a refused upload
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

from geocolor.app.workdir import touch
from geocolor.errors import GeocolorError
from geocolor.io.product_files import S1_MEASUREMENT_DRIVERS, open_product_raster
from geocolor.s1.safe import open_safe

_CHUNK = 1 << 20
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_ZIP_MAGIC = b"PK\x03\x04"
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
_SAFE_FOLDER = re.compile(r"^[^/]+\.SAFE$", re.IGNORECASE)
#: Hex digits of the content hash naming an upload's folder.
HASH_CHARACTERS = 24


@dataclass(frozen=True)
class UploadLimits:
    """Caps on one upload.

    Attributes
    ----------
    max_bytes
        Largest upload.
    max_extracted_bytes
        Largest total an archive may extract to.
    max_ratio
        Largest compression ratio of one entry: real SAFE XML compresses about 12:1,
        zip bombs by a thousand.
    max_entries
        Most entries in an archive (a SAFE holds a few dozen).
    """

    max_bytes: int
    max_extracted_bytes: int
    max_ratio: float = 100.0
    max_entries: int = 1000

    @classmethod
    def from_megabytes(cls, max_upload_mb: int) -> UploadLimits:
        """Caps for a ``max_upload_mb`` MiB upload that extracts to at most four times that."""
        max_bytes = max_upload_mb * (1 << 20)
        return cls(max_bytes=max_bytes, max_extracted_bytes=4 * max_bytes)


def safe_filename(name: str) -> str:
    """``name`` reduced to a harmless base name: no folders, only ``[A-Za-z0-9._-]``."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _UNSAFE_NAME_CHARACTERS.sub("_", base).lstrip(".")
    if not cleaned:
        raise GeocolorError(f"{name!r}: not a usable file name")
    return cleaned


def accept_upload(name: str, data: IO[bytes], folder: Path, limits: UploadLimits) -> Path:
    """Save an uploaded scene under ``folder`` and return the path to colorize.

    A GeoTIFF is kept as it is; a SAFE zip is extracted and its ``.SAFE`` folder
    returned. Either lands in ``folder/<content hash>/``; bytes already accepted once
    return the earlier copy. Nothing is left in ``folder`` when the upload is refused.

    Raises
    ------
    GeocolorError
        Naming the upload and why it was refused.
    """
    filename = safe_filename(name)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".upload-") as scratch:
        saved = Path(scratch) / filename
        digest = hashlib.sha256()
        too_large = f"{name}: larger than the {_mib(limits.max_bytes)} limit"
        size = _write_capped(data, saved, limits.max_bytes, too_large, digest)
        if size == 0:
            raise GeocolorError(f"{name}: the upload is empty")
        home = folder / digest.hexdigest()[:HASH_CHARACTERS]
        earlier = _accepted(home)
        if earlier is not None:
            touch(home)
            return earlier
        with saved.open("rb") as handle:
            magic = handle.read(4)
        staged = Path(scratch) / "accepted"
        if magic in _TIFF_MAGIC:
            check_geotiff(saved, name)
            staged.mkdir()
            saved.replace(staged / filename)
        elif magic == _ZIP_MAGIC:
            extracted = extract_safe(saved, Path(scratch) / "extracted", limits, name)
            staged.mkdir()
            extracted.replace(staged / extracted.name)
        else:
            raise GeocolorError(f"{name}: neither a GeoTIFF nor a zipped Sentinel-1 SAFE product")
        with contextlib.suppress(OSError):  # fails when another session stored them meanwhile
            staged.rename(home)
        accepted = _accepted(home)
        if accepted is None:
            raise GeocolorError(f"{name}: the upload could not be stored")
        return accepted


def _accepted(home: Path) -> Path | None:
    """The scene in an upload's folder, None when there is no such folder."""
    if not home.is_dir():
        return None
    return next(iter(sorted(home.iterdir())), None)


def _write_capped(
    data: IO[bytes], target: Path, max_bytes: int, too_large: str, digest: Any = None
) -> int:
    """Copy ``data`` to ``target``, failing with ``too_large`` past ``max_bytes``; the size.

    ``digest`` (a hashlib object), when given, is fed the bytes on the way.
    """
    written = 0
    with target.open("wb") as out:
        while chunk := data.read(_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise GeocolorError(too_large)
            if digest is not None:
                digest.update(chunk)
            out.write(chunk)
    return written


def check_geotiff(path: Path, name: str) -> None:
    """Refuse a TIFF that GDAL cannot open as a GeoTIFF or that is not georeferenced."""
    try:
        with open_product_raster(str(path), S1_MEASUREMENT_DRIVERS) as src:
            georeferenced = src.crs is not None and not src.transform.is_identity
    except GeocolorError as exc:
        why = str(exc).replace(str(path), name)
        raise GeocolorError(f"{name}: not a readable GeoTIFF ({why})") from None
    if not georeferenced:
        raise GeocolorError(f"{name}: the GeoTIFF has no CRS or geotransform")


def check_zip(archive: zipfile.ZipFile, limits: UploadLimits, name: str) -> str:
    """The SAFE folder name at the archive's root, once every entry is found harmless."""
    entries = archive.infolist()
    if len(entries) > limits.max_entries:
        raise GeocolorError(f"{name}: more than {limits.max_entries} entries in the archive")
    total = 0
    for entry in entries:
        _check_entry(entry, limits, name)
        total += entry.file_size
    if total > limits.max_extracted_bytes:
        raise GeocolorError(
            f"{name}: extracts to more than the {_mib(limits.max_extracted_bytes)} limit"
        )
    tops = {PurePosixPath(entry.filename).parts[0] for entry in entries}
    if len(tops) != 1 or not _SAFE_FOLDER.match(top := tops.pop()):
        raise GeocolorError(f"{name}: not a SAFE product (expected one NAME.SAFE folder inside)")
    if f"{top}/manifest.safe" not in archive.namelist():
        raise GeocolorError(f"{name}: not a SAFE product (no manifest.safe in {top})")
    return top


def _check_entry(entry: zipfile.ZipInfo, limits: UploadLimits, name: str) -> None:
    path = entry.filename
    parts = PurePosixPath(path).parts
    if path.startswith("/") or "\\" in path or ":" in path or ".." in parts or not parts:
        raise GeocolorError(f"{name}: unsafe path {path!r} in the archive")
    if stat.S_ISLNK(entry.external_attr >> 16):
        raise GeocolorError(f"{name}: the archive holds a symbolic link {path!r}")
    if entry.flag_bits & 0x1:
        raise GeocolorError(f"{name}: the archive entry {path!r} is encrypted")
    if entry.file_size > limits.max_ratio * max(entry.compress_size, 1):
        raise GeocolorError(
            f"{name}: entry {path!r} compresses more than {limits.max_ratio:g}:1 (a zip bomb?)"
        )


def extract_safe(path: Path, destination: Path, limits: UploadLimits, name: str) -> Path:
    """Extract a zipped SAFE into ``destination`` after :func:`check_zip`; its folder.

    Bytes are counted as they are written, so an entry lying about its size in the
    headers cannot write more than it declared.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            top = check_zip(archive, limits, name)
            for entry in archive.infolist():
                target = destination.joinpath(*PurePosixPath(entry.filename).parts)
                if entry.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(entry) as source:
                    _write_capped(
                        source,
                        target,
                        entry.file_size,
                        f"{name}: entry {entry.filename!r} holds more than its header says",
                    )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise GeocolorError(f"{name}: not a readable zip archive ({exc})") from None
    safe = destination / top
    try:
        open_safe(safe).check_measurements()
    except GeocolorError as exc:
        # the message names files by their place in the archive, not on the server
        reason = str(exc).replace(f"{destination}/", "")
        raise GeocolorError(f"{name}: not a valid Sentinel-1 SAFE product ({reason})") from None
    return safe


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"
