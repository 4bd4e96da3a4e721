"""Range-Doppler geometric terrain correction (GTC), chunk by chunk.

Each output pixel is a point on the ground: its map position and its DEM height make
an Earth-fixed point, whose zero-Doppler time against the orbit and slant range give
its GRD line and pixel (:class:`geocolor.s1.radar_geometry.RadarGeometry`); the
backscatter is resampled there. A chunk of the output grid reads only its DEM window
and the radar window it maps to, found before the graph is built by mapping the chunk's
edge probes at the DEM's lowest and highest heights, so memory is bounded by chunk
size as for the geolocation-grid warp (:mod:`geocolor.s1.georeference`).
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed
from pyproj import Transformer

from geocolor.geo.grid import LONLAT, Grid
from geocolor.s1.dem import Dem, height_range, heights
from geocolor.s1.georeference import blocks_from_radar, resample_radar
from geocolor.s1.radar_geometry import RadarGeometry, geodetic_to_ecef
from geocolor.s1.safe import RadarWindow

# probes per chunk edge used to find the radar window a chunk needs
_PROBES = 17
# radar pixels of context around that window, for the bilinear kernel and the probes
_MARGIN = 8
# a (line, pixel) standing for "outside the window", where the map has no data
_OUTSIDE = -10.0


class TerrainLocator:
    """Map chunks of ``grid`` to the radar windows they need, over the DEM's relief."""

    def __init__(self, geometry: RadarGeometry, dem: Dem, grid: Grid) -> None:
        self.geometry = geometry
        self.dem = dem
        self.grid = grid
        self.heights = height_range(dem, grid)

    def window_for(self, row0: int, row1: int, col0: int, col1: int) -> RadarWindow | None:
        """The radar window that map chunk [row0:row1, col0:col1] needs; None if empty."""
        rows = np.linspace(row0, row1, _PROBES)
        cols = np.linspace(col0, col1, _PROBES)
        grid_rows, grid_cols = np.meshgrid(rows, cols, indexing="ij")
        lines, pixels = [], []
        for height in self.heights:
            line, pixel = map_to_radar(
                self.geometry, self.grid, grid_rows, grid_cols, np.full(grid_rows.shape, height)
            )
            lines.append(line)
            pixels.append(pixel)
        line, pixel = np.concatenate(lines), np.concatenate(pixels)
        found = np.isfinite(line) & np.isfinite(pixel)
        if not found.any():
            return None
        line, pixel = line[found], pixel[found]
        # pixels spanned between neighbouring probes bound what the probes miss
        pad = _MARGIN + int(np.ceil(max(np.ptp(line), np.ptp(pixel)) / (_PROBES - 1)))
        line0 = max(int(np.floor(line.min())) - pad, 0)
        line1 = min(int(np.ceil(line.max())) + pad + 1, self.geometry.lines)
        pixel0 = max(int(np.floor(pixel.min())) - pad, 0)
        pixel1 = min(int(np.ceil(pixel.max())) + pad + 1, self.geometry.samples)
        if line0 >= line1 or pixel0 >= pixel1:
            return None
        return RadarWindow(line0, line1, pixel0, pixel1)


def map_to_radar(
    geometry: RadarGeometry, grid: Grid, rows: np.ndarray, cols: np.ndarray, height: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image (line, pixel) of ``grid`` positions (fractional row, col from the grid's
    corner) at ellipsoidal ``height``."""
    x, y = grid.pixel_to_map(rows, cols)
    lon, lat = Transformer.from_crs(grid.crs, LONLAT, always_xy=True).transform(x, y)
    return geometry.line_pixel(geodetic_to_ecef(np.asarray(lon), np.asarray(lat), height))


def _terrain_chunk(
    source: np.ndarray,
    geometry: RadarGeometry,
    dem: Dem,
    grid: Grid,
    window: RadarWindow,
    row0: int,
    col0: int,
    shape: tuple[int, int],
) -> np.ndarray:
    height = heights(dem, grid, row0, col0, shape)
    rows, cols = np.meshgrid(
        np.arange(row0, row0 + shape[0]) + 0.5,
        np.arange(col0, col0 + shape[1]) + 0.5,
        indexing="ij",
    )
    line, pixel = map_to_radar(geometry, grid, rows, cols, np.nan_to_num(height))
    unknown = ~np.isfinite(height) | ~np.isfinite(line) | ~np.isfinite(pixel)
    line = np.where(unknown, _OUTSIDE, line - window.line0)
    pixel = np.where(unknown, _OUTSIDE, pixel - window.pixel0)
    return resample_radar(source, line, pixel)


def terrain_correct(
    radar: da.Array,
    locator: TerrainLocator,
    chunk: int = 1024,
    extent: RadarWindow | None = None,
) -> da.Array:
    """Terrain-correct a (band, line, pixel) radar array onto ``locator.grid``, lazily.

    Parameters
    ----------
    radar
        Linear-power backscatter in radar geometry; NaN is nodata.
    locator
        The product's geometry, the DEM and the target grid.
    chunk
        Output chunk size (pixels per side).
    extent
        The part of the image ``radar`` holds (default: all of it from line 0, sample 0).

    Returns
    -------
    dask.array.Array
        float32 (band, rows, cols) on the grid, NaN outside the scene or the DEM.
    """

    def correct_block(
        source: da.Array, window: RadarWindow, row0: int, col0: int, shape: tuple[int, int]
    ) -> Delayed:
        corrected: Delayed = delayed(_terrain_chunk, pure=True)(
            source, locator.geometry, locator.dem, locator.grid, window, row0, col0, shape
        )
        return corrected

    return blocks_from_radar(radar, locator.grid, chunk, extent, locator.window_for, correct_block)
