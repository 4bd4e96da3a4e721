"""Target grids: a CRS, an affine transform and a size, shared by every stage.

The Sentinel-1 chain warps onto a :class:`Grid`; ``prepare`` uses the Sentinel-2 tile's
grid; ``colorize`` writes on the scene's grid. Grids snap to whole multiples of the
resolution so that products made separately line up pixel for pixel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError

LONLAT = CRS.from_epsg(4326)
#: Spacing (degrees) at which a lon/lat outline is densified before it is projected, so
#: that its edges keep the curve they take in a projected CRS.
DENSIFY_DEGREES = 0.01
#: How far (pixels) an area's edge may pass a pixel boundary and still snap to it: a box
#: drawn on pixel edges comes back a few hundredths of a pixel larger after a round trip
#: through lon/lat, which must not add a row or column of pixels.
SNAP_PIXELS = 0.05


@dataclass(frozen=True)
class Grid:
    """A north-up raster grid: ``crs``, ``transform`` and ``width`` x ``height`` pixels."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.height, self.width

    @property
    def resolution(self) -> tuple[float, float]:
        """Pixel size (x, y), both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        left, top = self.transform @ (0, 0)
        right, bottom = self.transform @ (self.width, self.height)
        return min(left, right), min(top, bottom), max(left, right), max(top, bottom)

    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """x of each column centre and y of each row centre (1-D, float64)."""
        cols = np.arange(self.width) + 0.5
        rows = np.arange(self.height) + 0.5
        x = self.transform.c + cols * self.transform.a
        y = self.transform.f + rows * self.transform.e
        return x, y

    def pixel_to_map(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map x, y of pixel corners (rows, cols may be fractional), vectorised."""
        t = self.transform
        return t.c + cols * t.a + rows * t.b, t.f + cols * t.d + rows * t.e

    def window_transform(self, row0: int, col0: int) -> Affine:
        """Transform of the sub-grid whose top-left pixel is (row0, col0)."""
        return self.transform @ Affine.translation(col0, row0)

    def footprint_lonlat(self) -> BaseGeometry:
        """The grid's outline in lon/lat."""
        left, bottom, right, top = self.bounds
        box = Polygon([(left, bottom), (right, bottom), (right, top), (left, top)])
        outline = box.segmentize(max(right - left, top - bottom) / 16)
        return reproject_geometry(outline, self.crs, LONLAT)


def reproject_geometry(geometry: BaseGeometry, src: Any, dst: Any) -> BaseGeometry:
    """``geometry`` from CRS ``src`` to ``dst`` (anything pyproj accepts), x/y order."""
    transformer = Transformer.from_crs(src, dst, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geometry, project)


def grid_covering(footprint: BaseGeometry, crs: CRS, resolution: float) -> Grid:
    """The smallest grid in ``crs`` snapped to ``resolution`` that covers a lon/lat footprint."""
    if resolution <= 0:
        raise GeocolorError(f"resolution must be positive, got {resolution}")
    projected = reproject_geometry(footprint.segmentize(DENSIFY_DEGREES), LONLAT, crs)
    left, bottom, right, top = projected.bounds
    left = math.floor(left / resolution) * resolution
    top = math.ceil(top / resolution) * resolution
    width = math.ceil((right - left) / resolution)
    height = math.ceil((top - bottom) / resolution)
    return Grid(crs, Affine(resolution, 0, left, 0, -resolution, top), width, height)


def pixel_bounds(grid: Grid, area: BaseGeometry) -> tuple[float, float, float, float]:
    """(col0, row0, col1, row1): a lon/lat area's bounds in fractional pixels of ``grid``."""
    projected = reproject_geometry(area.segmentize(DENSIFY_DEGREES), LONLAT, grid.crs)
    left, bottom, right, top = projected.bounds
    inverse = ~grid.transform
    (x0, y0), (x1, y1) = inverse @ (left, top), inverse @ (right, bottom)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def crop_to_area(grid: Grid, area: BaseGeometry) -> Grid | None:
    """The whole pixels of ``grid`` that cover a lon/lat area, aligned to it.

    The one crop rule of geocolor: ``prepare`` cuts the Sentinel-2 grid to the pair's
    overlap with it, ``colorize`` the scene's grid to the AOI. Every pixel the area's
    bounds reach is kept (edges within :data:`SNAP_PIXELS` of a pixel boundary snap to
    it), so nothing of the area is lost and the crop's pixels are the grid's own.

    Returns
    -------
    Grid or None
        None when the area and the grid do not share a pixel.
    """
    col0, row0, col1, row1 = pixel_bounds(grid, area)
    first_col, first_row = (
        max(math.floor(col0 + SNAP_PIXELS), 0),
        max(math.floor(row0 + SNAP_PIXELS), 0),
    )
    end_col = min(math.ceil(col1 - SNAP_PIXELS), grid.width)
    end_row = min(math.ceil(row1 - SNAP_PIXELS), grid.height)
    if end_col <= first_col or end_row <= first_row:
        return None
    return Grid(
        grid.crs,
        grid.window_transform(first_row, first_col),
        end_col - first_col,
        end_row - first_row,
    )


@dataclass(frozen=True)
class Georeference:
    """Where the pixels are: a CRS with a transform, or ground control points (radar)."""

    crs: CRS
    transform: Affine | None = None
    gcps: Sequence[Any] = field(default_factory=tuple)
