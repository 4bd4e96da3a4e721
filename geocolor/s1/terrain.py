"""Range-Doppler geometric terrain correction (GTC), chunk by chunk.

Each output pixel is a point on the ground: its map position and its DEM height make
an Earth-fixed point, whose zero-Doppler time against the orbit and slant range give
its GRD line and pixel (:class:`geocolor.s1.radar_geometry.RadarGeometry`); the
backscatter is resampled there. That chain runs per pixel in one numba pass
(:mod:`geocolor.s1.range_doppler_kernels`); only its map-to-Earth-fixed conversion and
its Newton solve's first guess come from nodes every ``_NODE_STEP`` pixels, anchored on
the whole grid, which moves no pixel by more than a few 1e-4 px and keeps chunks
independent. A chunk of the output grid reads only its DEM window and the radar window
it maps to, found before the graph is built by mapping the chunk's edge probes at the
DEM's lowest and highest heights, so memory is bounded by chunk size as for the
geolocation-grid warp (:mod:`geocolor.s1.georeference`).
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
# map pixels between the nodes where the grid's CRS is converted to Earth-fixed points
# (interpolating them in between errs by well under a millimetre)
_NODE_STEP = 16


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
    line, pixel = _terrain_line_pixel(geometry, grid, row0, col0, height)
    line -= window.line0
    pixel -= window.pixel0
    return resample_radar(source, line, pixel)


def _terrain_line_pixel(
    geometry: RadarGeometry, grid: Grid, row0: int, col0: int, height: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Image (line, pixel) of the centres of the chunk of ``grid`` at (row0, col0) whose
    DEM heights are ``height`` (NaN: unknown, and so NaN).

    The grid's CRS is converted to Earth-fixed coordinates only at nodes every
    ``_NODE_STEP`` pixels of the whole grid (so a pixel's nodes never depend on the
    chunking), where the zero-Doppler time at height 0 is solved too; the kernel
    interpolates both to every pixel, adds its height along the ellipsoid normal and
    solves its own zero-Doppler time from there (see
    :func:`geocolor.s1.range_doppler_kernels.geocode_terrain`).
    """
    from geocolor.s1 import range_doppler_kernels  # numba: imported on first use

    first_row, first_col = row0 // _NODE_STEP, col0 // _NODE_STEP
    last_row = -(-(row0 + height.shape[0] - 1) // _NODE_STEP)
    last_col = -(-(col0 + height.shape[1] - 1) // _NODE_STEP)
    node_rows = np.arange(first_row, max(last_row, first_row + 1) + 1) * _NODE_STEP + 0.5
    node_cols = np.arange(first_col, max(last_col, first_col + 1) + 1) * _NODE_STEP + 0.5
    grid_rows, grid_cols = np.meshgrid(node_rows, node_cols, indexing="ij")
    x, y = grid.pixel_to_map(grid_rows, grid_cols)
    lon, lat = Transformer.from_crs(grid.crs, LONLAT, always_xy=True).transform(x, y)
    lon, lat = np.asarray(lon), np.asarray(lat)
    ground = geodetic_to_ecef(lon, lat, np.zeros(lon.shape))
    above = geodetic_to_ecef(lon, lat, np.ones(lon.shape))
    normal = [a - g for a, g in zip(above, ground, strict=True)]
    nodes = np.ascontiguousarray(np.stack([*ground, *normal], axis=-1))
    mid_time = (geometry.lines - 1) / 2.0 * geometry.azimuth_time_interval
    node_times, _ = geometry.orbit.zero_doppler(ground, mid_time)
    line, pixel = np.empty(height.shape), np.empty(height.shape)
    srgr = geometry.slant_to_ground
    range_doppler_kernels.geocode_terrain(
        geometry.orbit.times,
        geometry.orbit.cubics,
        srgr.times,
        srgr.sr0,
        srgr.coefficients,
        geometry.azimuth_time_interval,
        geometry.range_pixel_spacing,
        nodes,
        node_times,
        _NODE_STEP,
        row0 - first_row * _NODE_STEP,
        col0 - first_col * _NODE_STEP,
        np.ascontiguousarray(height, dtype=np.float64),
        line,
        pixel,
    )
    return line, pixel


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
