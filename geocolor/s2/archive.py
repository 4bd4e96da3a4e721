"""Where a Sentinel-2 product's files are, and how their pixels are reached.

A product is a local folder, a ``.zip`` or a location behind any fsspec URL. GDAL reads
local, ``s3://`` and ``az://`` rasters itself, and zips in place through ``/vsizip/``;
other fsspec protocols, ``gs://`` included (so gcsfs's credentials and
``STORAGE_EMULATOR_HOST`` apply, see :mod:`geocolor.io.filesystems`), go through a
rasterio opener, whose reads are serialised because openers are not thread-safe.

Every file is reached through :func:`geocolor.io.product_files.confine_href` and every
raster through :func:`geocolor.io.product_files.open_product_raster`: a crafted product
reads only its own files, as JPEG2000 or GeoTIFF, without network of its own.
"""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
from fsspec.implementations.zip import ZipFileSystem
from rasterio.errors import RasterioError
from rasterio.windows import Window

from geocolor.errors import GeocolorError, raise_unchained, root_reason
from geocolor.geo.grid import Grid
from geocolor.io.filesystems import OPENER_LOCK
from geocolor.io.product_files import S2_BAND_DRIVERS, confine_href, open_product_raster
from geocolor.io.xml import parse_xml

__all__ = ["Archive", "Raster", "check_on_grid", "gdal_path", "open_archive", "raster_at"]

# fsspec protocols GDAL reads itself (thread-safe, no Python in the read path)
_GDAL_PREFIXES = {"file": "", "s3": "/vsis3/", "az": "/vsiaz/"}


@dataclass(frozen=True)
class Raster:
    """One raster file: a path GDAL reads natively, or an fsspec path with its opener.

    ``drivers`` are the GDAL drivers it may be opened with.
    """

    path: str
    opener: Callable[..., Any] | None = None
    drivers: tuple[str, ...] = S2_BAND_DRIVERS

    @contextmanager
    def open(self) -> Iterator[Any]:
        """The open rasterio dataset, or an error naming the file.

        Errors name GDAL's reason and carry no chained exception, as Dask tasks read
        through here (see :func:`~geocolor.errors.raise_unchained`). Rasterio's Python openers
        are not safe to use from several threads at once (concurrent reads of one path
        crash), so those reads take turns.
        """
        with (
            OPENER_LOCK if self.opener is not None else nullcontext(),
            open_product_raster(self.path, self.drivers, opener=self.opener) as dataset,
        ):
            yield dataset

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """First band over [rows) x [cols), one window read."""
        with self.open() as dataset:
            try:
                pixels: np.ndarray = dataset.read(1, window=Window.from_slices(rows, cols))
                return pixels
            except (OSError, RasterioError) as exc:
                raise_unchained(
                    GeocolorError(f"{self.path}: cannot read pixels ({root_reason(exc)})")
                )

    def grid(self) -> Grid:
        """The file's own grid, read from its header."""
        with self.open() as dataset:
            return Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)


@dataclass(frozen=True)
class Archive:
    """The files of one product folder, on disk, in a zip or behind fsspec.

    ``local_folder`` says whether ``root`` is a folder on this machine, whose links
    must not lead out of it.
    """

    label: str
    fs: Any
    root: str
    gdal_root: str | None
    local_folder: bool = False

    def files(self) -> set[str]:
        """Paths of every file, relative to the product folder."""
        prefix = f"{self.root.rstrip('/')}/" if self.root else ""
        return {path[len(prefix) :] for path in self.fs.find(self.root) if path.startswith(prefix)}

    def xml(self, relative: str) -> ET.Element:
        """A parsed XML file of the product."""
        name = posixpath.join(self.label, relative)
        try:
            with self.fs.open(self._confined(relative), "rb") as stream:
                content = stream.read()
        except FileNotFoundError:
            raise GeocolorError(f"{name}: file not found") from None
        except OSError as exc:
            raise GeocolorError(f"{name}: cannot read ({exc})") from None
        return parse_xml(content, name)

    def raster(self, relative: str, drivers: tuple[str, ...] = S2_BAND_DRIVERS) -> Raster:
        """A raster of the product, read natively by GDAL where it can."""
        confined = self._confined(relative)
        if self.gdal_root is not None:
            return Raster(f"{self.gdal_root}/{posixpath.normpath(relative)}", None, drivers)
        return Raster(confined, self.fs.open, drivers)

    def _confined(self, relative: str) -> str:
        return confine_href(self.root, relative, self.label, local=self.local_folder)


def open_archive(location: str) -> Archive:
    """The product folder or zip at ``location``; a zip's root is its metadata's folder."""
    fs, fs_path = fsspec.core.url_to_fs(location)
    if not fs.exists(fs_path):
        raise GeocolorError(f"{location}: no such file or folder")
    native = gdal_path(fs, fs_path)
    if fs.isdir(fs_path):
        # a native path equal to the fsspec one is a plain folder on this machine
        return Archive(location, fs, fs_path, native, local_folder=native == fs_path)
    if not fs_path.lower().endswith(".zip"):
        raise GeocolorError(f"{location}: expected a .SAFE folder, a .zip or a band-file folder")
    try:
        zip_fs = ZipFileSystem(fo=location)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GeocolorError(f"{location}: unreadable zip archive ({exc})") from None
    metadata = [
        name
        for name in zip_fs.find("")
        if posixpath.basename(name) in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
    ]
    root = posixpath.dirname(min(metadata, key=len)) if metadata else ""
    gdal_root = None if native is None else posixpath.join(f"/vsizip/{native}", root).rstrip("/")
    return Archive(location, zip_fs, root, gdal_root)


def gdal_path(fs: Any, fs_path: str) -> str | None:
    """The GDAL virtual-file path of an fsspec location, when GDAL can read it itself."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    prefixes = [_GDAL_PREFIXES[name] for name in protocols if name in _GDAL_PREFIXES]
    return f"{prefixes[0]}{fs_path}" if prefixes else None


def raster_at(location: str, drivers: tuple[str, ...] = S2_BAND_DRIVERS) -> Raster:
    """A single band file named by a path or fsspec URL."""
    fs, fs_path = fsspec.core.url_to_fs(location)
    native = gdal_path(fs, fs_path)
    return Raster(fs_path, fs.open, drivers) if native is None else Raster(native, None, drivers)


def check_on_grid(raster: Raster, grid: Grid) -> None:
    """Refuse a raster whose header disagrees with the product's grid."""
    own = raster.grid()
    if own.crs != grid.crs:
        raise GeocolorError(f"{raster.path}: CRS {own.crs} differs from the tile's {grid.crs}")
    if (own.width, own.height) != (grid.width, grid.height) or not own.transform.almost_equals(
        grid.transform
    ):
        raise GeocolorError(
            f"{raster.path}: {own.width} x {own.height} pixels at {tuple(own.transform)[:6]} "
            f"do not match the tile grid {grid.width} x {grid.height} at "
            f"{tuple(grid.transform)[:6]}"
        )
