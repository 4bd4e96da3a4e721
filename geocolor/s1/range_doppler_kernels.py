"""Numba kernels of the range-Doppler geometry: one point at a time, no temporaries.

The orbit is a cubic Hermite curve per state-vector interval (see
:mod:`geocolor.s1.orbit`); a point's zero-Doppler time is found by Newton's method and
its ground range from the annotation's srgr polynomials (see
:mod:`geocolor.s1.radar_geometry`). Terrain correction runs this for every output
pixel, so the whole per-pixel chain (terrain point, zero-Doppler solve, slant to ground
range) is fused into one loop here: a handful of scalar flops per Newton step instead
of a dozen full-size arrays. Each point's result depends only on its own inputs (and,
in :func:`geocode_terrain`, on grid nodes anchored on the whole grid), never on where a
chunk starts, so chunked output equals unchunked output bit for bit. Compiled without
fastmath (deterministic), ``nogil`` so that Dask's threads run chunks in parallel,
``cache`` so that only the first run in an environment compiles. This module imports
numba: import it where a kernel is first needed, not at package import.
"""

from __future__ import annotations

import numba
import numpy as np

#: Newton steps of the zero-Doppler solve at most; the error shrinks quadratically, so
#: from a neighbouring solution one step reaches the tolerance, from the scene's mid
#: time three or four
NEWTON_STEPS = 10
#: Newton steps below this (seconds; a 1e-5 of a line) end the solve
TIME_TOLERANCE = 1e-8

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_jit
def _interval(times: np.ndarray, time: float) -> int:
    index = int(np.searchsorted(times, time)) - 1
    return min(max(index, 0), times.size - 2)


@_jit
def orbit_states(times: np.ndarray, cubics: np.ndarray, time: np.ndarray, out: np.ndarray) -> None:
    """Position, velocity and acceleration (``out[n, 0:3]``, ``3:6``, ``6:9``) at each
    ``time[n]``, from the (interval, power, axis) Hermite ``cubics`` of the intervals
    between ``times``."""
    for n in range(time.size):
        interval = _interval(times, time[n])
        since = time[n] - times[interval]
        for axis in range(3):
            c0, c1 = cubics[interval, 0, axis], cubics[interval, 1, axis]
            c2, c3 = cubics[interval, 2, axis], cubics[interval, 3, axis]
            out[n, axis] = ((c3 * since + c2) * since + c1) * since + c0
            out[n, 3 + axis] = (3.0 * c3 * since + 2.0 * c2) * since + c1
            out[n, 6 + axis] = 6.0 * c3 * since + 2.0 * c2


@_jit
def _zero_doppler(
    times: np.ndarray, cubics: np.ndarray, x: float, y: float, z: float, guess: float
) -> tuple[float, float]:
    """Azimuth time and slant range of one Earth-fixed point, Newton's method from ``guess``
    on ``f(t) = (target - S(t)) . V(t)``, ``f'(t) = (target - S) . A - V . V``."""
    time = guess
    for _ in range(NEWTON_STEPS):
        interval = _interval(times, time)
        since = time - times[interval]
        doppler = 0.0
        slope = 0.0
        for axis in range(3):
            c0, c1 = cubics[interval, 0, axis], cubics[interval, 1, axis]
            c2, c3 = cubics[interval, 2, axis], cubics[interval, 3, axis]
            target = x if axis == 0 else (y if axis == 1 else z)
            offset = target - (((c3 * since + c2) * since + c1) * since + c0)
            velocity = (3.0 * c3 * since + 2.0 * c2) * since + c1
            acceleration = 6.0 * c3 * since + 2.0 * c2
            doppler += offset * velocity
            slope += offset * acceleration - velocity * velocity
        step = doppler / slope
        time -= step
        if abs(step) < TIME_TOLERANCE:
            break
    interval = _interval(times, time)
    since = time - times[interval]
    square = 0.0
    for axis in range(3):
        c0, c1 = cubics[interval, 0, axis], cubics[interval, 1, axis]
        c2, c3 = cubics[interval, 2, axis], cubics[interval, 3, axis]
        target = x if axis == 0 else (y if axis == 1 else z)
        offset = target - (((c3 * since + c2) * since + c1) * since + c0)
        square += offset * offset
    return time, np.sqrt(square)


@_jit
def zero_doppler(
    times: np.ndarray,
    cubics: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    guess: float,
    time: np.ndarray,
    distance: np.ndarray,
) -> None:
    """Zero-Doppler ``time`` and slant range ``distance`` of flat points ``x, y, z``."""
    for n in range(x.size):
        time[n], distance[n] = _zero_doppler(times, cubics, x[n], y[n], z[n], guess)


@_jit
def _ground_range(
    srgr_times: np.ndarray, sr0: np.ndarray, coefficients: np.ndarray, time: float, slant: float
) -> float:
    """The srgr polynomials at ``slant``, interpolated linearly in ``time`` between the two
    bracketing ones (clamped at the ends)."""
    if srgr_times.size == 1:
        return _polynomial(coefficients, 0, slant - sr0[0])
    upper = min(max(int(np.searchsorted(srgr_times, time)), 1), srgr_times.size - 1)
    t0, t1 = srgr_times[upper - 1], srgr_times[upper]
    weight = min(max((time - t0) / (t1 - t0), 0.0), 1.0)
    before = _polynomial(coefficients, upper - 1, slant - sr0[upper - 1])
    after = _polynomial(coefficients, upper, slant - sr0[upper])
    return float(before + weight * (after - before))


@_jit
def _polynomial(coefficients: np.ndarray, row: int, value: float) -> float:
    total = 0.0
    for power in range(coefficients.shape[1] - 1, -1, -1):
        total = total * value + coefficients[row, power]
    return total


@_jit
def ground_range(
    srgr_times: np.ndarray,
    sr0: np.ndarray,
    coefficients: np.ndarray,
    time: np.ndarray,
    slant: np.ndarray,
    out: np.ndarray,
) -> None:
    """Ground range of flat slant ranges ``slant`` at azimuth ``time`` into ``out``."""
    for n in range(time.size):
        out[n] = _ground_range(srgr_times, sr0, coefficients, time[n], slant[n])


@_jit
def geocode_terrain(
    orbit_times: np.ndarray,
    cubics: np.ndarray,
    srgr_times: np.ndarray,
    sr0: np.ndarray,
    coefficients: np.ndarray,
    line_interval: float,
    pixel_spacing: float,
    nodes: np.ndarray,
    node_times: np.ndarray,
    step: int,
    row_offset: int,
    col_offset: int,
    height: np.ndarray,
    line: np.ndarray,
    pixel: np.ndarray,
) -> None:
    """Image ``line`` and ``pixel`` of each map pixel at its DEM ``height`` (NaN: unknown).

    ``nodes[r, c]`` holds the Earth-fixed point at height 0 (``0:3``) and the ellipsoid
    normal (``3:6``) of the map pixel ``step`` * (r, c) from the nodes' first one, which
    is (``row_offset``, ``col_offset``) pixels before the chunk's first pixel; a pixel's
    point is their bilinear interpolation, ``point + height * normal`` (exact on the
    ellipsoid; the interpolation errs by well under a millimetre over nodes a few hundred
    metres apart). Its Newton solve starts from the nodes' interpolated zero-Doppler
    ``node_times`` (at height 0), so one step converges and a second confirms it.
    """
    rows, cols = height.shape
    node_rows, node_cols = node_times.shape
    for i in range(rows):
        r = min((i + row_offset) // step, node_rows - 2)
        down = (i + row_offset - r * step) / step
        for j in range(cols):
            h = height[i, j]
            if not np.isfinite(h):
                line[i, j] = np.nan
                pixel[i, j] = np.nan
                continue
            c = min((j + col_offset) // step, node_cols - 2)
            right = (j + col_offset - c * step) / step
            w00 = (1.0 - down) * (1.0 - right)
            w01 = (1.0 - down) * right
            w10 = down * (1.0 - right)
            w11 = down * right
            x = 0.0
            y = 0.0
            z = 0.0
            for axis in range(3):
                point = (
                    w00 * nodes[r, c, axis]
                    + w01 * nodes[r, c + 1, axis]
                    + w10 * nodes[r + 1, c, axis]
                    + w11 * nodes[r + 1, c + 1, axis]
                )
                normal = (
                    w00 * nodes[r, c, 3 + axis]
                    + w01 * nodes[r, c + 1, 3 + axis]
                    + w10 * nodes[r + 1, c, 3 + axis]
                    + w11 * nodes[r + 1, c + 1, 3 + axis]
                )
                value = point + h * normal
                if axis == 0:
                    x = value
                elif axis == 1:
                    y = value
                else:
                    z = value
            guess = (
                w00 * node_times[r, c]
                + w01 * node_times[r, c + 1]
                + w10 * node_times[r + 1, c]
                + w11 * node_times[r + 1, c + 1]
            )
            time, slant = _zero_doppler(orbit_times, cubics, x, y, z, guess)
            line[i, j] = time / line_interval
            ground = _ground_range(srgr_times, sr0, coefficients, time, slant)
            pixel[i, j] = ground / pixel_spacing
