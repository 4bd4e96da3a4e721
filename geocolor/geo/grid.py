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
    projected = reproject_geometry(footprint.segmentize(0.01), LONLAT, crs)
    left, bottom, right, top = projected.bounds
    left = math.floor(left / resolution) * resolution
    top = math.ceil(top / resolution) * resolution
    width = math.ceil((right - left) / resolution)
    height = math.ceil((top - bottom) / resolution)
    return Grid(crs, Affine(resolution, 0, left, 0, -resolution, top), width, height)


@dataclass(frozen=True)
class Georeference:
    """Where the pixels are: a CRS with a transform, or ground control points (radar)."""

    crs: CRS
    transform: Affine | None = None
    gcps: Sequence[Any] = field(default_factory=tuple)
