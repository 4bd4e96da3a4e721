"""Georeferencing radar geometry onto a map grid, chunk by chunk.

A GRD image has no affine transform: its annotation gives a geolocation grid of ground
control points (line, pixel -> lon, lat, height). Each output chunk maps its pixels to
radar coordinates with GDAL's thin-plate-spline GCP transformer (through rasterio,
exact at the GCPs) and resamples just the radar window it needs, found beforehand by
inverting the geolocation grid with a piecewise-linear interpolator. The scene is never
warped, or held, whole, and every pixel's value is independent of the chunking.
"""

from __future__ import annotations

from collections.abc import Callable

import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed
from pyproj import Transformer
from rasterio.control import GroundControlPoint
from rasterio.transform import GCPTransformer
from scipy.interpolate import LinearNDInterpolator

from geocolor.geo.grid import LONLAT, Grid
from geocolor.s1.safe import GeolocationGrid, RadarWindow

# samples per chunk edge used to find the radar window a chunk needs
_PROBES = 33
# radar pixels of context around that window, for the bilinear kernel and rounding
_MARGIN = 4
# map pixels between evaluations of the GCP transformer
_STEP = 8


def ground_control_points(
    geogrid: GeolocationGrid, line0: int = 0, pixel0: int = 0
) -> list[GroundControlPoint]:
    """GDAL GCPs for the radar window starting at (line0, pixel0).

    The annotation gives the centre of pixel (line, pixel); GDAL's image coordinates put
    that centre at (line + 0.5, pixel + 0.5).
    """
    return [
        GroundControlPoint(row=line - line0 + 0.5, col=pixel - pixel0 + 0.5, x=lon, y=lat, z=h)
        for line, pixel, lon, lat, h in zip(
            geogrid.line, geogrid.pixel, geogrid.lon, geogrid.lat, geogrid.height, strict=True
        )
    ]


class RadarLocator:
    """Map coordinates in a grid's CRS to radar (line, pixel), from the geolocation grid."""

    def __init__(self, geogrid: GeolocationGrid, grid: Grid) -> None:
        to_grid = Transformer.from_crs(LONLAT, grid.crs, always_xy=True)
        x, y = to_grid.transform(geogrid.lon, geogrid.lat)
        self._points = np.column_stack([x, y])
        values = np.column_stack([geogrid.line, geogrid.pixel])
        self._interpolate = LinearNDInterpolator(self._points, values)
        self._lines = int(geogrid.line.max()) + 1
        self._pixels = int(geogrid.pixel.max()) + 1
        self.grid = grid

    def line_pixel(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(..., 2) array of radar line and pixel; NaN outside the scene."""
        line_pixel: np.ndarray = self._interpolate(x, y)
        return line_pixel

    def window_for(self, row0: int, row1: int, col0: int, col1: int) -> RadarWindow | None:
        """The radar window that map chunk [row0:row1, col0:col1] needs; None if empty."""
        transform = self.grid.transform
        rows = np.linspace(row0, row1, _PROBES)
        cols = np.linspace(col0, col1, _PROBES)
        xs = transform.c + cols * transform.a
        ys = transform.f + rows * transform.e
        gx, gy = np.meshgrid(xs, ys)
        lp = self.line_pixel(gx, gy)
        valid = np.isfinite(lp[..., 0])
        found = [lp[valid]]
        inside = (
            (self._points[:, 0] >= xs.min())
            & (self._points[:, 0] <= xs.max())
            & (self._points[:, 1] >= ys.min())
            & (self._points[:, 1] <= ys.max())
        )
        if inside.any():
            found.append(self._interpolate(self._points[inside]))
        samples = np.concatenate(found)
        samples = samples[np.isfinite(samples).all(axis=1)]
        if samples.size == 0:
            return None
        # radar pixels spanned between neighbouring probes bound what the probes miss
        step = _probe_step(lp, valid)
        pad = _MARGIN + step
        line0 = max(int(np.floor(samples[:, 0].min() - pad)), 0)
        line1 = min(int(np.ceil(samples[:, 0].max() + pad)) + 1, self._lines)
        pixel0 = max(int(np.floor(samples[:, 1].min() - pad)), 0)
        pixel1 = min(int(np.ceil(samples[:, 1].max() + pad)) + 1, self._pixels)
        if line0 >= line1 or pixel0 >= pixel1:
            return None
        return RadarWindow(line0, line1, pixel0, pixel1)


def _probe_step(lp: np.ndarray, valid: np.ndarray) -> int:
    both_rows = valid[1:, :] & valid[:-1, :]
    both_cols = valid[:, 1:] & valid[:, :-1]
    steps = [np.abs(np.diff(lp, axis=0))[both_rows], np.abs(np.diff(lp, axis=1))[both_cols]]
    flat = np.concatenate([s.ravel() for s in steps])
    return int(np.ceil(flat.max())) if flat.size else 0


def _source_coordinates(
    gcps: list[GroundControlPoint], grid: Grid, row0: int, col0: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional source (line, pixel) centre indices of every pixel of a map chunk.

    GDAL's thin-plate-spline GCP transformer (exact at the GCPs) is evaluated on a grid
    every ``_STEP`` pixels and interpolated bilinearly in between: the mapping is
    smooth, so this costs nothing in accuracy and saves almost all transformer calls.
    """
    rows = np.unique(np.append(np.arange(0, shape[0], _STEP), shape[0] - 1))
    cols = np.unique(np.append(np.arange(0, shape[1], _STEP), shape[1] - 1))
    coarse_rows, coarse_cols = np.meshgrid(rows + row0 + 0.5, cols + col0 + 0.5, indexing="ij")
    x, y = grid.pixel_to_map(coarse_rows, coarse_cols)
    lon, lat = Transformer.from_crs(grid.crs, LONLAT, always_xy=True).transform(x, y)
    transformer = GCPTransformer(gcps, tps=True)
    line, pixel = transformer.rowcol(lon.ravel(), lat.ravel(), op=np.asarray)
    line = np.asarray(line).reshape(coarse_rows.shape) - 0.5
    pixel = np.asarray(pixel).reshape(coarse_rows.shape) - 0.5
    fine_rows, fine_cols = np.arange(shape[0]), np.arange(shape[1])
    return _bilinear(line, rows, cols, fine_rows, fine_cols), _bilinear(
        pixel, rows, cols, fine_rows, fine_cols
    )


def _bilinear(
    values: np.ndarray, rows: np.ndarray, cols: np.ndarray, at_rows: np.ndarray, at_cols: np.ndarray
) -> np.ndarray:
    along_cols = np.stack([np.interp(at_cols, cols, row) for row in values])
    return np.stack([np.interp(at_rows, rows, column) for column in along_cols.T], axis=1)


def _warp_chunk(
    source: np.ndarray,
    gcps: list[GroundControlPoint],
    grid: Grid,
    row0: int,
    col0: int,
    shape: tuple[int, int],
) -> np.ndarray:
    """Resample a radar window onto one map chunk through the GCP transformer."""
    line, pixel = _source_coordinates(gcps, grid, row0, col0, shape)
    return resample_radar(source, line, pixel)


def resample_radar(source: np.ndarray, line: np.ndarray, pixel: np.ndarray) -> np.ndarray:
    """Bilinear, NaN-aware resampling of a (band, line, pixel) radar window at ``line, pixel``.

    A map pixel is valid when the radar pixel it falls in is valid; its value is the
    bilinear mean of the valid radar pixels around it, weights renormalised. The result
    depends only on the pixel's source position, never on the chunking. ``line`` and
    ``pixel`` are fractional centre indices into ``source``; NaN gives NaN.
    """
    from geocolor.s1 import resample_kernel  # numba: imported on first use

    out = np.empty((source.shape[0], *np.shape(line)), dtype=np.float32)
    resample_kernel.resample(
        source, np.asarray(line, dtype=np.float64), np.asarray(pixel, dtype=np.float64), out
    )
    return out


def clip_window(window: RadarWindow | None, extent: RadarWindow) -> RadarWindow | None:
    """The part of ``window`` inside ``extent``; None when nothing is."""
    if window is None:
        return None
    line0, line1 = max(window.line0, extent.line0), min(window.line1, extent.line1)
    pixel0, pixel1 = max(window.pixel0, extent.pixel0), min(window.pixel1, extent.pixel1)
    if line0 >= line1 or pixel0 >= pixel1:
        return None
    return RadarWindow(line0, line1, pixel0, pixel1)


def warp_to_grid(
    radar: da.Array,
    geogrid: GeolocationGrid,
    grid: Grid,
    chunk: int = 1024,
    extent: RadarWindow | None = None,
) -> da.Array:
    """Warp a (band, line, pixel) radar array onto ``grid``, lazily, chunk by chunk.

    Parameters
    ----------
    radar
        Linear-power backscatter in radar geometry; NaN is nodata.
    geogrid
        The product's geolocation grid.
    grid
        Target grid.
    chunk
        Output chunk size (pixels per side).
    extent
        The part of the image ``radar`` holds (default: the whole image from line 0,
        sample 0); map pixels whose radar source lies outside it are NaN.

    Returns
    -------
    dask.array.Array
        float32 (band, rows, cols) on ``grid``, NaN outside the scene.
    """
    locator = RadarLocator(geogrid, grid)

    def warp_block(
        source: da.Array, window: RadarWindow, row0: int, col0: int, shape: tuple[int, int]
    ) -> Delayed:
        gcps = ground_control_points(geogrid, window.line0, window.pixel0)
        warped: Delayed = delayed(_warp_chunk, pure=True)(source, gcps, grid, row0, col0, shape)
        return warped

    return blocks_from_radar(radar, grid, chunk, extent, locator.window_for, warp_block)


#: Lazily computes one output block from its radar window: (source, window, row0, col0,
#: (rows, cols)) -> a delayed float32 (band, rows, cols) array.
BlockWarp = Callable[[da.Array, RadarWindow, int, int, tuple[int, int]], Delayed]


def blocks_from_radar(
    radar: da.Array,
    grid: Grid,
    chunk: int,
    extent: RadarWindow | None,
    window_for: Callable[[int, int, int, int], RadarWindow | None],
    warp_block: BlockWarp,
) -> da.Array:
    """A lazy (band, rows, cols) image on ``grid`` made block by block from radar windows.

    Each output block reads only the radar window ``window_for`` maps it to, so memory
    is bounded by the chunk size; blocks whose window misses ``extent`` (the part of the
    image ``radar`` holds) are NaN.
    """
    extent = extent or RadarWindow(0, radar.shape[1], 0, radar.shape[2])
    bands = radar.shape[0]
    # dask leaves full, from_delayed and block unannotated
    rows = []
    for row0 in range(0, grid.height, chunk):
        row1 = min(row0 + chunk, grid.height)
        blocks = []
        for col0 in range(0, grid.width, chunk):
            col1 = min(col0 + chunk, grid.width)
            shape = (row1 - row0, col1 - col0)
            window = clip_window(window_for(row0, row1, col0, col1), extent)
            if window is None:
                blocks.append(da.full((bands, *shape), np.nan, dtype=np.float32))
                continue
            source = radar[
                :,
                window.line0 - extent.line0 : window.line1 - extent.line0,
                window.pixel0 - extent.pixel0 : window.pixel1 - extent.pixel0,
            ]
            block = warp_block(source, window, row0, col0, shape)
            blocks.append(da.from_delayed(block, (bands, *shape), dtype=np.float32))
        rows.append(blocks)
    image: da.Array = da.block(rows)
    return image
