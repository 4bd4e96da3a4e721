"""Sentinel-2 Level-2A reader: surface reflectance and the scene-classification mask.

A product is read lazily: every band becomes a dask array whose chunks are single
rasterio window reads, so memory is bounded by the chunk size, never by the tile.
Two inputs are understood:

- an L2A ``.SAFE`` folder or its ``.zip`` (local, or any fsspec URL such as ``gs://``).
  ``MTD_MSIL2A.xml`` is the authority: band files are located through its
  ``IMAGE_FILE`` entries, the radiometric offsets (baseline 04.00 onwards) and the
  quantification value come from it, and the tile grid comes from the granule's
  ``MTD_TL.xml``. Zips are read in place through GDAL's ``/vsizip/``; how each kind of
  location is reached is told in :mod:`geocolor.s2.archive`.
- a folder (or an explicit list) of plain GeoTIFF/COG band files, as download services
  deliver them. A file belongs to a band when its name contains the band token as a
  separate word: ``B02.tif``, ``B8A_20m.tif``, ``T29UNU_20221005T115411_B04_10m.tiff``,
  ``SCL.tif``. The resolution is the file's pixel size. Integer files hold L2A digital
  numbers: reflectance = (DN + ``BOA_ADD_OFFSET``) / ``BOA_QUANTIFICATION_VALUE``, both
  read from the file's metadata tags when present (defaults 0 and 10000, the
  pre-04.00 convention most services deliver), DN 0 being no data. Floating-point
  files already hold reflectance and pass through unchanged, their nodata value
  becoming NaN.

Reading each layout's metadata lives in :mod:`geocolor.s2.safe_metadata` and
:mod:`geocolor.s2.band_files`; both return :class:`geocolor.s2.parts.ProductParts`,
from which this module builds the product and its lazy readers.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Sequence
from typing import Any, cast

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from dask.array.core import normalize_chunks
from dask.base import tokenize
from rasterio.crs import CRS
from shapely.geometry import Polygon

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.io.product_files import S2_BAND_DRIVERS
from geocolor.s2.archive import Raster, check_on_grid, open_archive, raster_at
from geocolor.s2.band_files import read_band_files
from geocolor.s2.parts import (
    BAND_ORDER,
    DEFAULT_MASKED,
    SCL,
    BandFile,
    ProductParts,
    S2Info,
    SCLClass,
)
from geocolor.s2.safe_metadata import read_safe_metadata

__all__ = ["BAND_ORDER", "DEFAULT_MASKED", "SCL", "S2Info", "S2Product", "SCLClass", "open_s2"]

PathLike = str | os.PathLike[str]


class S2Product:
    """An opened L2A product: metadata plus lazy readers of reflectance and mask.

    Build it with :func:`open_s2`.
    """

    def __init__(self, parts: ProductParts) -> None:
        self.info = parts.info
        self._files = dict(parts.files)
        self._missing = dict(parts.missing)
        self._grids = dict(parts.grids)
        self._footprint = parts.footprint

    def __repr__(self) -> str:
        return f"S2Product({self.info.product_id!r})"

    def bands_available(self, resolution: int) -> list[str]:
        """Spectral bands with a raster at ``resolution`` metres, in wavelength order."""
        return [band for band in BAND_ORDER if (band, resolution) in self._files]

    def footprint(self) -> Polygon:
        """Valid-data outline in lon/lat: the metadata footprint, else the tile bounds."""
        if self._footprint is not None:
            return self._footprint
        # a reprojected box stays a polygon
        return cast(Polygon, self._grid(min(self._grids)).footprint_lonlat())

    def grid(self, resolution: int) -> tuple[CRS, Affine, int, int]:
        """(crs, transform, width, height) of the tile at ``resolution`` metres."""
        grid = self._grid(resolution)
        return grid.crs, grid.transform, grid.width, grid.height

    def read_reflectance(
        self,
        bands: Sequence[str] = ("B02", "B03", "B04"),
        resolution: int = 10,
        chunks: int = 1024,
    ) -> xr.DataArray:
        """Lazy float32 surface reflectance, dims (band, y, x), NaN where there is no data.

        Every band must exist at ``resolution``: resampling spectral bands silently
        would hide a mismatch the caller should decide about.
        """
        if not bands:
            raise GeocolorError(f"{self.info.product_id}: no bands requested")
        grid = self._grid(resolution)
        block_chunks = normalize_chunks((chunks, chunks), shape=grid.shape)
        layers = []
        for band in bands:
            band_file = self._band_file(band, resolution)
            check_on_grid(band_file.raster, grid)
            layers.append(
                da.map_blocks(
                    _reflectance_block,
                    name=f"s2-reflectance-{band}-{tokenize(band_file, block_chunks)}",
                    chunks=block_chunks,
                    dtype=np.float32,
                    meta=np.empty((0, 0), np.float32),
                    band_file=band_file,
                )
            )
        reflectance = _on_grid(da.stack(layers), grid, "reflectance")
        reflectance = reflectance.assign_coords(band=list(bands))
        with_nodata: xr.DataArray = reflectance.rio.write_nodata(np.nan)
        return with_nodata

    def reflectance_convention(
        self, bands: Sequence[str], resolution: int = 10
    ) -> dict[str, str | float]:
        """How ``bands``' stored numbers became reflectance: ``DN * scale + offset``.

        ``{"level": "L2A", "scale": ..., "offset": ...}``, the record ``prepare`` keeps
        with each pair: baseline 04.00 products carry ``BOA_ADD_OFFSET`` (-1000 DN, an
        offset of -0.1), older ones none; floating-point band files hold reflectance
        (scale 1, offset 0). Bands that disagree are an error: a pair has one record.
        """
        found = set()
        for band in bands:
            band_file = self._band_file(band, resolution)
            found.add((1.0 / band_file.quantification, band_file.offset / band_file.quantification))
        if len(found) != 1:
            raise GeocolorError(
                f"{self.info.product_id}: bands {', '.join(bands)} are scaled differently"
            )
        scale, offset = found.pop()
        return {"level": "L2A", "scale": scale, "offset": offset}

    def read_mask(
        self,
        resolution: int = 10,
        classes: Iterable[int] = DEFAULT_MASKED,
        chunks: int = 1024,
        scl_resolution: int | None = None,
    ) -> xr.DataArray:
        """Lazy boolean mask (True = masked) of SCL ``classes``, dims (y, x).

        The SCL raster (at ``scl_resolution``; by default the one at ``resolution``,
        else the finest) is resampled by nearest neighbour onto the band grid chunk by
        chunk, so 20 m classes replicate exactly 2 x 2 onto 10 m pixels.
        """
        lookup = _class_lookup(classes, self.info.product_id)
        grid = self._grid(resolution)
        scl_resolutions = sorted(res for name, res in self._files if name == SCL)
        if not scl_resolutions:
            raise GeocolorError(f"{self.info.product_id}: product has no SCL raster")
        if scl_resolution is None:
            scl_resolution = resolution if resolution in scl_resolutions else scl_resolutions[0]
        scl = self._band_file(SCL, scl_resolution).raster
        source = self._grid(scl_resolution)
        check_on_grid(scl, source)
        block_chunks = normalize_chunks((chunks, chunks), shape=grid.shape)
        mask = da.map_blocks(
            _mask_block,
            name=f"s2-mask-{tokenize(scl, source, grid, lookup, block_chunks)}",
            chunks=block_chunks,
            dtype=bool,
            meta=np.empty((0, 0), bool),
            scl=scl,
            source=source,
            target=grid,
            lookup=lookup,
        )
        return _on_grid(mask, grid, "mask")

    def _grid(self, resolution: int) -> Grid:
        try:
            return self._grids[resolution]
        except KeyError:
            known = ", ".join(f"{res} m" for res in sorted(self._grids))
            raise GeocolorError(
                f"{self.info.product_id}: no {resolution} m grid (available: {known})"
            ) from None

    def _band_file(self, band: str, resolution: int) -> BandFile:
        if (band, resolution) in self._files:
            return self._files[(band, resolution)]
        if band not in (*BAND_ORDER, SCL):
            raise GeocolorError(f"{self.info.product_id}: unknown band {band!r}")
        present = sorted(res for name, res in self._files if name == band)
        where = ", ".join(f"{res} m" for res in present) or "none"
        listed = self._missing.get((band, resolution))
        absent = f"{listed} is listed but missing; " if listed else ""
        raise GeocolorError(
            f"{self.info.product_id}: band {band} has no {resolution} m raster "
            f"({absent}resolutions present: {where})"
        )


def open_s2(path: PathLike | Sequence[PathLike], *, geocolor_vrts: bool = False) -> S2Product:
    """Open an L2A product: a SAFE folder or zip, a band-file folder, or a list of band files.

    See the module docstring for the accepted layouts and how values are scaled. Band
    files are JPEG2000 or GeoTIFF; ``geocolor_vrts`` also accepts the band VRTs of a
    folder geocolor wrote itself (a STAC Item's COGs), never a product's own VRTs.
    """
    drivers = (*S2_BAND_DRIVERS, "VRT") if geocolor_vrts else S2_BAND_DRIVERS
    if not isinstance(path, str | os.PathLike):
        locations = [os.fspath(item) for item in path]
        label = posixpath.dirname(locations[0]) if locations else "empty band-file list"
        rasters = [raster_at(location, drivers) for location in locations]
        return S2Product(read_band_files(rasters, label))
    location = os.fspath(path)
    archive = open_archive(location)
    files = archive.files()
    if "MTD_MSIL2A.xml" in files:
        return S2Product(read_safe_metadata(archive, files))
    if "MTD_MSIL1C.xml" in files:
        raise GeocolorError(f"{location}: is a Level-1C product (MTD_MSIL1C.xml), not Level-2A")
    if location.rstrip("/").upper().endswith((".SAFE", ".ZIP")) or "manifest.safe" in files:
        raise GeocolorError(f"{location}: MTD_MSIL2A.xml not found, not an L2A SAFE product")
    top_level = sorted(name for name in files if "/" not in name)
    rasters = [archive.raster(name, drivers) for name in top_level]
    return S2Product(read_band_files(rasters, location))


def _reflectance_block(band_file: BandFile, block_info: Any = None) -> np.ndarray:
    rows, cols = block_info[None]["array-location"]
    stored = band_file.raster.read(rows, cols)
    reflectance = stored.astype(np.float32)
    reflectance += np.float32(band_file.offset)
    reflectance /= np.float32(band_file.quantification)
    if band_file.nodata is not None:
        reflectance[stored == band_file.nodata] = np.nan
    return reflectance


def _class_lookup(classes: Iterable[int], label: str) -> np.ndarray:
    """A 256-entry table: True for masked SCL codes (SCL is uint8)."""
    codes = np.asarray(sorted({int(code) for code in classes}), dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 255):
        raise GeocolorError(f"{label}: SCL class codes must lie in 0..255, got {codes.tolist()}")
    lookup = np.zeros(256, dtype=bool)
    lookup[codes] = True
    return lookup


def _nearest(
    start: int, stop: int, origin: float, step: float, source_origin: float, source_step: float
) -> np.ndarray:
    """Source pixel index holding each target pixel centre along one axis."""
    centres = origin + (np.arange(start, stop) + 0.5) * step
    index: np.ndarray = np.floor((centres - source_origin) / source_step).astype(np.int64)
    return index


def _mask_block(
    scl: Raster, source: Grid, target: Grid, lookup: np.ndarray, block_info: Any = None
) -> np.ndarray:
    (row0, row1), (col0, col1) = block_info[None]["array-location"]
    src, dst = source.transform, target.transform
    rows = _nearest(row0, row1, dst.f, dst.e, src.f, src.e)
    cols = _nearest(col0, col1, dst.c, dst.a, src.c, src.a)
    row_inside = (rows >= 0) & (rows < source.height)
    col_inside = (cols >= 0) & (cols < source.width)
    classes = np.full((row1 - row0, col1 - col0), SCLClass.NO_DATA, dtype=np.uint8)
    if row_inside.any() and col_inside.any():
        row_lo, row_hi = rows[row_inside].min(), rows[row_inside].max() + 1
        col_lo, col_hi = cols[col_inside].min(), cols[col_inside].max() + 1
        window = scl.read((row_lo, row_hi), (col_lo, col_hi))
        picked = window[np.ix_(rows[row_inside] - row_lo, cols[col_inside] - col_lo)]
        classes[np.ix_(row_inside, col_inside)] = picked
    return lookup[classes]


def _on_grid(data: da.Array, grid: Grid, name: str) -> xr.DataArray:
    """Wrap a lazy (…, y, x) array with pixel-centre coordinates, CRS and transform."""
    x, y = grid.pixel_centres()
    dims = ("band", "y", "x")[-data.ndim :]
    array = xr.DataArray(data, dims=dims, coords={"y": y, "x": x}, name=name)
    georeferenced: xr.DataArray = array.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    return georeferenced
