"""Rasters and globs read alike from local paths and fsspec URLs (``gs://``...).

GDAL could read ``gs://`` itself (``/vsigs/``), but with credentials of its own
finding and no notion of ``STORAGE_EMULATOR_HOST``; handing rasterio an fsspec
filesystem instead means every file of a run (products, rasters, the Zarr store, the
outputs) is reached with the same credentials gcsfs finds, and the local emulator
works as the real service does.
"""

from __future__ import annotations

import glob
import os
import posixpath
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import fsspec
import rasterio
from rasterio.io import DatasetReader

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid

_LOCAL_PROTOCOLS = {"file", "local"}

OPENER_LOCK = threading.Lock()
"""Held around every raster read through fsspec: rasterio's Python-opener VSI plugin is
not thread-safe yet (rasterio issue #3636), while GDAL's own local paths are."""


def is_remote(path: str) -> bool:
    """Whether ``path`` is a URL fsspec reaches (``gs://``, ``memory://``...), not a file here."""
    protocol, separator, _ = path.partition("://")
    return bool(separator) and protocol not in _LOCAL_PROTOCOLS


def open_raster(path: str) -> DatasetReader:
    """``rasterio.open`` for reading ``path``; remote rasters are read through fsspec.

    Remote datasets are read through rasterio's Python opener: read them from one
    thread at a time, never beside other :data:`OPENER_LOCK` readers. A missing remote
    file is said so here, as GDAL would only report its opener's internal path as
    unavailable.
    """
    if not is_remote(path):
        return rasterio.open(path)
    fs, fs_path = fsspec.core.url_to_fs(path)
    if not fs.isfile(fs_path):
        raise GeocolorError(f"{path}: no such file")
    return rasterio.open(fs_path, opener=fs)


def glob_paths(pattern: str) -> list[str]:
    """The paths or URLs matching ``pattern`` (``/data/S1*.zip``, ``gs://b/in/S1*.zip``), sorted."""
    if not is_remote(pattern):
        # absolute patterns such as /data/S1*.zip: Path.glob takes relative ones only
        return sorted(glob.glob(pattern))  # noqa: PTH207
    fs, fs_pattern = fsspec.core.url_to_fs(pattern)
    return sorted(fs.unstrip_protocol(path) for path in fs.glob(fs_pattern))


@contextmanager
def atomic_write(path: str) -> Iterator[IO[bytes]]:
    """A binary stream to ``path`` (local or URL) that appears there only when closed whole.

    The bytes go to a hidden temporary name beside ``path``, renamed over it at the
    end; if the block raises, the temporary file is removed and ``path`` is untouched,
    so a killed or failed run never leaves a truncated file to be trusted later.
    """
    fs, fs_path = fsspec.core.url_to_fs(path)
    folder, name = posixpath.split(fs_path)
    fs.makedirs(folder, exist_ok=True)
    partial = posixpath.join(folder, f".{name}.{os.getpid()}.partial")
    try:
        with fs.open(partial, "wb") as stream:
            yield stream
        fs.mv(partial, fs_path)
    except BaseException:
        if fs.exists(partial):
            fs.rm(partial)
        raise


def grid_of_raster(path: str) -> Grid:
    """The grid of a reference raster (any GDAL-readable file or fsspec URL)."""
    try:
        with open_raster(path) as src:
            if src.crs is None or src.transform.is_identity:
                raise GeocolorError(f"{path}: reference raster has no CRS or transform")
            return Grid(src.crs, src.transform, src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        raise GeocolorError(f"{path}: cannot open reference raster ({exc})") from None
