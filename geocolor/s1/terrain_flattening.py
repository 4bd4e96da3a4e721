"""Radiometric terrain flattening (``gamma0-rtc``) and the layover/shadow mask.

After Small (2011), "Flattening Gamma: Radiometric Terrain Correction for SAR
Imagery", IEEE Transactions on Geoscience and Remote Sensing 49(8): 3081-3093. β⁰ is
backscatter per unit area of the slant-range plane; what a radar pixel actually
collects is the area of all the ground that maps into it, seen by the radar: each DEM
facet's area projected onto the plane perpendicular to the look direction (the γ
projection). Those projected areas are summed into the radar geometry they map to,
divided by the pixel's slant-plane reference area, and the ratio is interpolated back
to the map: ``γ⁰_T = β⁰ / (Σ A_γ / A_β)``. On flat ground the ratio is ``cot θ`` and
``γ⁰_T`` is the ellipsoid γ⁰; foreshortened slopes, which pile more ground into a pixel,
are darkened back, and where several slopes overlap (layover) their areas add up.

The facets are the output grid's cells, their heights the DEM sampled at the pixel
centres (as the geometric correction reads it), their area vectors the cross product
of the central differences of the Earth-fixed pixel positions. Radar bins are
:data:`GROUPING` times the coarser of the output resolution and the range pixel spacing,
in slant range and in azimuth, as sarsen's default ``grouping_area_factor``: every bin
then receives several facets, so the sum is not aliased by the facet grid. A facet's
area is spread bilinearly over the four bins around its position and each output pixel
reads the bins back bilinearly.

Chunks: the bins an output chunk reads also receive facets from outside the chunk.
Across the zero-Doppler plane two ground points share a slant range when their ground
distance is their height difference times ``cot θ``; along the orbit heights move
nothing. So the chunk is computed with a halo, per grid axis, of ``relief · cot θ_min``
times the axis's share of the ground range direction, plus two bins (relief from the
DEM's height range over the grid, θ_min the smallest ellipsoid incidence over it): on a
north-up grid the rows' halo is a fraction of the columns'. The halo is capped at
:data:`MAX_HALO` pixels to bound memory: beyond about 3 km of relief per 10 m pixel a
bin in layover may miss far facets, and its pixels come out too bright. The vector
geometry is computed in strips of facet rows, so a 1024-pixel chunk with a 300-pixel
halo across range holds about 280 MiB at its peak. Heights the DEM leaves out in the
halo (around the grid's edge) are filled with the nearest known height, so the edge of
the grid is flattened like its middle. A pixel whose bins received no illuminated area
is NaN.

The mask flags, per output pixel, the facet's own geometry in the zero-Doppler plane
through its signed local incidence angle ``θ_loc`` (look vector against the facet
normal projected into that plane): layover where ``θ_loc < 0`` (the slope towards
the sensor is steeper than the look angle, so slant range decreases with ground range),
shadow where ``θ_loc ≥ 90°`` (the slope faces away beyond grazing). Shadow cast by
terrain in front is not traced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask.delayed import delayed
from pyproj import Transformer
from scipy import ndimage

from geocolor.geo.grid import LONLAT, Grid
from geocolor.s1.dem import Dem, heights
from geocolor.s1.orbit import Axes
from geocolor.s1.radar_geometry import _WGS84_E2, RadarGeometry, geodetic_to_ecef
from geocolor.s1.terrain import TerrainLocator

RTC_PROVENANCE = "gamma0-rtc, Small 2011 area projection"
"""The ``radiometric_terrain_correction`` tag of a flattened image."""
LAYOVER = 1
SHADOW = 2
MASK_DESCRIPTION = "layover_shadow_mask"
"""The first word of the mask band's description."""
MASK_ENCODING = "0 neither, 1 layover, 2 shadow (bit flags), NaN outside the DEM"
"""How the layover/shadow band is encoded, recorded in its description and tags."""

# radar bin size, in units of the coarser of output resolution and range pixel spacing
GROUPING = 3.0
# the widest halo (output pixels) a chunk's area accumulation reads
MAX_HALO = 512
# facet rows computed together: bounds the chunk's vector temporaries
_STRIP = 128
# probes per grid side used to find the smallest incidence and the azimuth spacing
_PROBES = 5
# a projected-area ratio below this (of the flat one) is no illuminated area: NaN
_MIN_RATIO = 1e-3


@dataclass(frozen=True, eq=False)
class Flattening:
    """The geometry, DEM and grid of a flattening, with its radar bins and chunk halo."""

    geometry: RadarGeometry
    dem: Dem
    grid: Grid
    bin_slant: float
    bin_lines: float
    halo: tuple[int, int]
    """Pixels of context around a chunk: (rows, columns)."""


def flattening_for(locator: TerrainLocator) -> Flattening:
    """Radar bins and chunk halo for ``locator``'s product, DEM and grid."""
    geometry, grid = locator.geometry, locator.grid
    low, high = locator.heights
    rows, cols = np.meshgrid(
        np.linspace(0, grid.height - 1, _PROBES),
        np.linspace(0, grid.width - 1, _PROBES),
        indexing="ij",
    )
    middle = np.full(rows.shape, (low + high) / 2.0)
    probes = _facets(geometry, grid, rows, cols, middle)
    up = _vertical(probes.target)
    incidence = np.arccos(np.clip(_dot(probes.look, up), -1.0, 1.0))
    # ground range direction: the look's horizontal part, whichever way it points
    ground = _difference(probes.look, _scaled(up, _dot(probes.look, up)))
    line_metres = float(np.median(probes.line_metres))
    steps = []  # per grid axis: metres per pixel, and the share of ground range along it
    for step_rows, step_cols in ((1.0, 0.0), (0.0, 1.0)):
        step = _difference(_ecef(grid, rows + step_rows, cols + step_cols, middle), probes.target)
        metres = np.sqrt(_dot(step, step))
        share = np.abs(_dot(ground, step)) / (np.sqrt(_dot(ground, ground)) * metres)
        steps.append((float(metres.min()), float(share.max())))
    resolution = min(metres for metres, _ in steps)
    bin_slant = GROUPING * max(resolution, geometry.range_pixel_spacing)
    bin_lines = GROUPING * max(resolution, line_metres) / line_metres
    steepest = float(incidence.min())
    layover_reach = (high - low) / np.tan(steepest)
    bins_reach = 2.0 * max(bin_slant / np.sin(steepest), bin_lines * line_metres)
    halo = tuple(
        min(int(np.ceil((layover_reach * share + bins_reach) / metres)) + 2, MAX_HALO)
        for metres, share in steps
    )
    return Flattening(geometry, locator.dem, grid, bin_slant, bin_lines, (halo[0], halo[1]))


def flattening_layers(flattening: Flattening, chunk: int) -> da.Array:
    """Lazy (2, rows, cols) float32 on the grid: the projected-area ratio ``Σ A_γ / A_β``
    that divides terrain-corrected β⁰ into γ⁰_T, and the layover/shadow codes.

    Each ``chunk``-sized block is one task reading its DEM window and halo.
    """
    grid = flattening.grid
    rows = []
    for row0 in range(0, grid.height, chunk):
        blocks = []
        for col0 in range(0, grid.width, chunk):
            shape = (min(chunk, grid.height - row0), min(chunk, grid.width - col0))
            block = delayed(_flattening_chunk, pure=True)(flattening, row0, col0, shape)
            blocks.append(da.from_delayed(block, (2, *shape), dtype=np.float32))
        rows.append(blocks)
    layers: da.Array = da.block(rows)
    return layers


def _flattening_chunk(
    flattening: Flattening, row0: int, col0: int, shape: tuple[int, int]
) -> np.ndarray:
    halo_rows, halo_cols = flattening.halo
    # one more pixel than the halo: the facets' central differences
    pad_rows, pad_cols = halo_rows + 1, halo_cols + 1
    size = (shape[0] + 2 * pad_rows, shape[1] + 2 * pad_cols)
    height = heights(flattening.dem, flattening.grid, row0 - pad_rows, col0 - pad_cols, size)
    unknown = ~np.isfinite(height[pad_rows : pad_rows + shape[0], pad_cols : pad_cols + shape[1]])
    out = np.full((2, *shape), np.nan, dtype=np.float32)
    if unknown.all():
        return out
    height = _fill_nearest(height)
    facet_rows = size[0] - 2
    azimuth_bin, range_bin, weight = (np.empty((facet_rows, size[1] - 2)) for _ in range(3))
    codes = np.empty(shape, dtype=np.float32)
    flat = np.empty(shape)
    core = slice(halo_cols, halo_cols + shape[1])
    # strips of facet rows bound the memory of the vector geometry to a strip's
    for top in range(0, facet_rows, _STRIP):
        bottom = min(top + _STRIP, facet_rows)
        strip = _strip(flattening, height[top : bottom + 2], row0 - pad_rows + top, col0 - pad_cols)
        azimuth_bin[top:bottom], range_bin[top:bottom], weight[top:bottom] = strip
        first, last = max(top, halo_rows), min(bottom, halo_rows + shape[0])
        if first < last:
            facets = strip.facets.part(slice(first - top, last - top), core)
            codes[first - halo_rows : last - halo_rows] = _layover_shadow(facets)
            flat[first - halo_rows : last - halo_rows] = _flat_ratio(facets)
    ratio = _splat_and_gather(weight, azimuth_bin, range_bin, flattening.halo)
    out[0] = np.where(unknown | ~(ratio > _MIN_RATIO * flat), np.nan, ratio)
    out[1] = np.where(unknown, np.nan, codes)
    return out


@dataclass(frozen=True)
class _Facets:
    """Earth-fixed geometry of ground points: where they are, where the sensor looks
    from at their zero-Doppler time, and their facets' outward area vectors (m²)."""

    target: Axes
    look: Axes
    velocity: Axes
    time: np.ndarray
    slant: np.ndarray
    line_metres: np.ndarray
    area: Axes | None = None

    def part(self, rows: slice, cols: slice) -> _Facets:
        return _Facets(
            _cut(self.target, rows, cols),
            _cut(self.look, rows, cols),
            _cut(self.velocity, rows, cols),
            self.time[rows, cols],
            self.slant[rows, cols],
            self.line_metres[rows, cols],
            None if self.area is None else _cut(self.area, rows, cols),
        )


@dataclass(frozen=True)
class _Strip:
    """A strip of facets' radar bin coordinates and normalised γ areas, and its geometry."""

    azimuth_bin: np.ndarray
    range_bin: np.ndarray
    weight: np.ndarray
    facets: _Facets

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter((self.azimuth_bin, self.range_bin, self.weight))


def _strip(flattening: Flattening, height: np.ndarray, row0: int, col0: int) -> _Strip:
    """The facets of the pixels inside ``height`` (a window of the grid whose corner is
    (row0, col0)), its outer ring being only their neighbours."""
    geometry, grid = flattening.geometry, flattening.grid
    rows, cols = np.meshgrid(
        np.arange(row0, row0 + height.shape[0]) + 0.5,
        np.arange(col0, col0 + height.shape[1]) + 0.5,
        indexing="ij",
    )
    points = _ecef(grid, rows, cols, height)
    middle, after, before = slice(1, -1), slice(2, None), slice(None, -2)
    across = _difference(_cut(points, middle, after), _cut(points, middle, before))
    down = _difference(_cut(points, after, middle), _cut(points, before, middle))
    area = _scaled(_cross(across, down), 0.25)
    target = _cut(points, middle, middle)
    area = _scaled(area, np.sign(_dot(area, target)))  # outward
    facets = _zero_doppler(geometry, target, area)
    reference = flattening.bin_slant * flattening.bin_lines * facets.line_metres
    weight = np.maximum(_dot(area, facets.look), 0.0) / reference
    azimuth_bin = facets.time / (geometry.azimuth_time_interval * flattening.bin_lines)
    return _Strip(azimuth_bin, facets.slant / flattening.bin_slant, weight, facets)


def _facets(
    geometry: RadarGeometry, grid: Grid, rows: np.ndarray, cols: np.ndarray, height: np.ndarray
) -> _Facets:
    x, y, z = _ecef(grid, rows, cols, height)
    return _zero_doppler(geometry, (x, y, z), None)


def _zero_doppler(geometry: RadarGeometry, target: Axes, area: Axes | None) -> _Facets:
    mid_time = (geometry.lines - 1) / 2.0 * geometry.azimuth_time_interval
    time, slant = geometry.orbit.zero_doppler(target, mid_time)
    position, velocity, _ = geometry.orbit.state(time)
    sensor = (position[..., 0], position[..., 1], position[..., 2])
    speed = (velocity[..., 0], velocity[..., 1], velocity[..., 2])
    look = _scaled(_difference(sensor, target), 1.0 / slant)
    return _Facets(
        target,
        look,
        speed,
        time,
        slant,
        _azimuth_metres_per_line(geometry, target, sensor, speed),
        area,
    )


def _splat_and_gather(
    weight: np.ndarray,
    azimuth_bin: np.ndarray,
    range_bin: np.ndarray,
    halo: tuple[int, int],
) -> np.ndarray:
    """Sum ``weight`` bilinearly into (azimuth, range) bins, then read the bins back
    bilinearly at the positions of the inner part (``halo`` in from each side)."""
    base_a, base_r = np.floor(azimuth_bin.min()), np.floor(range_bin.min())
    a, r = azimuth_bin - base_a, range_bin - base_r
    a0, r0 = np.floor(a).astype(np.int64), np.floor(r).astype(np.int64)
    fa, fr = a - a0, r - r0
    width = int(r0.max()) + 2
    bins = (int(a0.max()) + 2) * width
    corners = (
        (0, 0, (1 - fa) * (1 - fr)),
        (0, 1, (1 - fa) * fr),
        (1, 0, fa * (1 - fr)),
        (1, 1, fa * fr),
    )
    total = np.zeros(bins)
    for da_, dr, share in corners:
        total += np.bincount(
            ((a0 + da_) * width + r0 + dr).ravel(), (weight * share).ravel(), minlength=bins
        )
    core = (slice(halo[0], -halo[0] or None), slice(halo[1], -halo[1] or None))
    index = a0[core] * width + r0[core]
    gathered = np.zeros(index.shape)
    for da_, dr, share in corners:
        gathered += total[index + da_ * width + dr] * share[core]
    return gathered


def _layover_shadow(facets: _Facets) -> np.ndarray:
    """Codes from the signed local incidence angle in the zero-Doppler plane."""
    assert facets.area is not None
    speed = np.sqrt(_dot(facets.velocity, facets.velocity))
    along = (facets.velocity[0] / speed, facets.velocity[1] / speed, facets.velocity[2] / speed)
    off_plane = _dot(facets.area, along)
    normal = _difference(facets.area, _scaled(along, off_plane))
    cos_local = _dot(normal, facets.look)
    # the sign that makes flat ground's local incidence positive
    flat_sign = np.sign(_dot(_cross(_vertical(facets.target), facets.look), along))
    sin_local = flat_sign * _dot(_cross(normal, facets.look), along)
    codes = np.where(sin_local < 0, LAYOVER, 0) | np.where(cos_local <= 0, SHADOW, 0)
    return codes.astype(np.float32)


def _flat_ratio(facets: _Facets) -> np.ndarray:
    """``cot θ`` of the ellipsoid: the area ratio of flat ground, the scale of a tiny one."""
    cos_incidence = np.clip(_dot(facets.look, _vertical(facets.target)), 1e-6, 1.0)
    flat: np.ndarray = cos_incidence / np.sqrt(1.0 - cos_incidence**2 + 1e-12)
    return flat


def _azimuth_metres_per_line(
    geometry: RadarGeometry, target: Axes, position: Axes, velocity: Axes
) -> np.ndarray:
    """Ground distance (m) the zero-Doppler plane sweeps at ``target`` in one line.

    The plane turns about the orbit's instantaneous axis ``S × V`` at ``|S × V| / |S|²``
    radians per second; a target moves with it at its distance from that axis.
    """
    axis = _cross(position, velocity)
    length = np.sqrt(_dot(axis, axis))
    rate = length / _dot(position, position)
    along_axis = _dot(target, axis) / length
    off_axis = np.sqrt(np.maximum(_dot(target, target) - along_axis**2, 0.0))
    metres: np.ndarray = rate * off_axis * geometry.azimuth_time_interval
    return metres


def _vertical(target: Axes) -> Axes:
    """Unit ellipsoid normal (geodetic up) at Earth-fixed ``target``."""
    x, y, z = target
    # WGS84: the normal's direction is (x, y, z / (1 - e²)) on the ellipsoid
    z = z / (1.0 - _WGS84_E2)
    length = np.sqrt(x * x + y * y + z * z)
    return x / length, y / length, z / length


def _dot(a: Axes, b: Axes) -> np.ndarray:
    product: np.ndarray = a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
    return product


def _difference(a: Axes, b: Axes) -> Axes:
    return a[0] - b[0], a[1] - b[1], a[2] - b[2]


def _cut(axes: Axes, rows: slice, cols: slice) -> Axes:
    return axes[0][rows, cols], axes[1][rows, cols], axes[2][rows, cols]


def _scaled(a: Axes, factor: np.ndarray | float) -> Axes:
    return a[0] * factor, a[1] * factor, a[2] * factor


def _cross(a: Axes, b: Axes) -> Axes:
    return (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )


def _ecef(grid: Grid, rows: np.ndarray, cols: np.ndarray, height: np.ndarray) -> Axes:
    x, y = grid.pixel_to_map(rows, cols)
    lon, lat = Transformer.from_crs(grid.crs, LONLAT, always_xy=True).transform(x, y)
    return geodetic_to_ecef(np.asarray(lon), np.asarray(lat), height)


def _fill_nearest(height: np.ndarray) -> np.ndarray:
    """``height`` with each NaN replaced by the nearest known height."""
    missing = ~np.isfinite(height)
    if not missing.any():
        return height
    nearest = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
    filled: np.ndarray = height[tuple(nearest)]
    return filled
