"""Reading a dataset's small GeoTIFF patches (local or ``gs://``) and listing its folders."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import fsspec
import numpy as np
import rasterio
import rasterio.errors
from affine import Affine
from rasterio.crs import CRS

from geocolor.errors import GeocolorError
from geocolor.io.filesystems import OPENER_LOCK, is_remote, open_raster


@dataclass(frozen=True)
class Raster:
    """A patch file's bands as float32 (nodata as NaN) and where they lie (CRS as EPSG:n or WKT).

    A patch read with ``georeferenced=False`` has CRS ``""`` and the identity transform:
    its coordinates are pixels.
    """

    data: np.ndarray
    crs: str
    transform: tuple[float, ...]


def read_raster(path: str, *, georeferenced: bool = True) -> Raster:
    """All bands of ``path`` as float32, its nodata value (if any) as NaN.

    ``georeferenced=False`` reads a dataset's plain images (SEN1-2's PNGs), which
    carry no CRS, without warning about it.

    Raises
    ------
    GeocolorError
        One line naming ``path`` when it is missing, unreadable or, when
        ``georeferenced``, not georeferenced.
    """
    lock = OPENER_LOCK if is_remote(path) else contextlib.nullcontext()
    try:
        # a patch has no side-car files: listing its folder on every open is waste
        with (
            lock,
            warnings.catch_warnings(),
            rasterio.Env(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR"),
        ):
            if not georeferenced:
                warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with open_raster(path) as src:
                data = src.read().astype(np.float32)
                nodata, crs, transform = src.nodata, src.crs, src.transform
    except rasterio.errors.RasterioIOError as exc:
        raise GeocolorError(f"{path}: cannot read ({exc})") from None
    if nodata is not None and not np.isnan(nodata):
        data[data == nodata] = np.nan
    if not georeferenced:
        return Raster(data, "", tuple(Affine.identity())[:6])
    if crs is None:
        raise GeocolorError(f"{path}: not georeferenced (no CRS)")
    return Raster(data, crs.to_string(), tuple(transform)[:6])


def same_grid(first: Raster, second: Raster, second_path: str) -> None:
    """Refuse ``second`` when its CRS differs from ``first``'s (naming its file)."""
    if CRS.from_user_input(first.crs) != CRS.from_user_input(second.crs):
        raise GeocolorError(f"{second_path}: CRS {second.crs} differs from its partner's")


def list_folder(url: str) -> list[str]:
    """Names of the entries directly under folder ``url`` (local or remote), sorted."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        entries = fs.ls(path, detail=False)
    except FileNotFoundError:
        raise GeocolorError(f"{url}: no such folder") from None
    return sorted(str(entry).rstrip("/").rsplit("/", 1)[-1] for entry in entries)


def exists(url: str) -> bool:
    """Whether a file or folder is at ``url``."""
    fs, path = fsspec.core.url_to_fs(url)
    return bool(fs.exists(path))


def read_text(url: str) -> str:
    """The text of the file at ``url``."""
    with fsspec.open(url, "rt", encoding="utf-8") as stream:
        return str(stream.read())


def join(folder: str, *names: str) -> str:
    """``folder/name/...`` for local paths and URLs alike."""
    return "/".join([folder.rstrip("/"), *names])
