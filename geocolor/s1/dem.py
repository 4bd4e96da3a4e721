"""The digital elevation model terrain correction reads: any GDAL raster, local or remote.

Heights are sampled bilinearly at the output grid's pixel centres, one chunk at a time,
so only the DEM window under a chunk is read. A DEM whose CRS is a plain 2-D CRS holds
heights above the WGS84 ellipsoid, as sarsen takes them; a CRS with a vertical datum
(heights above a geoid, as Copernicus DEM's EGM2008) gets the geoid undulation added
(:mod:`geocolor.s1.geoid`) rather than misplacing the terrain by tens of metres.
Uncovered output is an error, never zero height.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.warp import Resampling, reproject

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.io.filesystems import OPENER_LOCK, is_remote, open_raster
from geocolor.s1.geoid import Geoid, geoid_of

ELLIPSOIDAL = "ellipsoid (WGS84): the DEM's CRS has no vertical datum"
"""The height reference recorded in provenance for a DEM with a plain 2-D CRS."""

# the coarse grid the coverage check and the height range are taken on (cells per side)
_OVERVIEW = 128
# metres added around the DEM's height range when bounding a chunk's radar window, for
# peaks between the overview's samples
_HEIGHT_MARGIN = 100.0


@dataclass(frozen=True)
class Dem:
    """A DEM raster: where it is, its CRS, the height reference its values are in, what
    provenance names it by (``source``), and the geoid to add when its heights are above one."""

    path: str
    crs: CRS
    height_reference: str
    source: str
    geoid: Geoid | None = None


def open_dem(path: str, source: str | None = None) -> Dem:
    """Check that ``path`` is a DEM this chain can use; errors are one line.

    ``source`` names the DEM in messages and provenance (``path`` when None).
    """
    source = path if source is None else source
    try:
        with open_raster(path) as src:
            crs = src.crs
            identity = src.transform.is_identity
    except rasterio.errors.RasterioIOError as exc:
        raise GeocolorError(f"{source}: cannot open the DEM ({exc})") from None
    if crs is None or identity:
        raise GeocolorError(f"{source}: the DEM has no CRS or geotransform")
    geoid = geoid_of(crs.to_wkt(), source)
    if geoid is None:
        return Dem(path, crs, ELLIPSOIDAL, source)
    return Dem(path, crs, geoid.description, source, geoid)


def heights(dem: Dem, grid: Grid, row0: int, col0: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear ellipsoidal heights (float64 m) at the centres of a chunk of ``grid``; NaN
    uncovered."""
    transform = grid.window_transform(row0, col0)
    return _resampled(dem, grid.crs, transform, shape, Resampling.bilinear)


def height_range(dem: Dem, grid: Grid) -> tuple[float, float]:
    """Lowest and highest height over ``grid``, widened by a margin; uncovered is an error.

    The check runs on a coarse copy of the grid: a DEM that leaves any of it uncovered
    is refused, naming the fraction left out.
    """
    factor = max(1, int(np.ceil(max(grid.shape) / _OVERVIEW)))
    shape = (int(np.ceil(grid.height / factor)), int(np.ceil(grid.width / factor)))
    transform = grid.transform @ Affine.scale(grid.width / shape[1], grid.height / shape[0])
    low = _resampled(dem, grid.crs, transform, shape, Resampling.min)
    high = _resampled(dem, grid.crs, transform, shape, Resampling.max)
    uncovered = float(np.mean(~(np.isfinite(low) & np.isfinite(high))))
    if uncovered > 0:
        raise GeocolorError(
            f"{dem.source}: the DEM does not cover {uncovered:.1%} of the output grid"
        )
    return float(low.min()) - _HEIGHT_MARGIN, float(high.max()) + _HEIGHT_MARGIN


def _resampled(
    dem: Dem, crs: CRS, transform: Affine, shape: tuple[int, int], resampling: Resampling
) -> np.ndarray:
    out = np.full(shape, np.nan, dtype=np.float64)
    with OPENER_LOCK if is_remote(dem.path) else nullcontext(), open_raster(dem.path) as src:
        reproject(
            rasterio.band(src, 1),
            out,
            src_nodata=src.nodata,
            dst_transform=transform,
            dst_crs=crs,
            dst_nodata=np.nan,
            resampling=resampling,
        )
    if dem.geoid is None:
        return out
    out += dem.geoid.undulation_on(crs, transform, shape)
    return out
