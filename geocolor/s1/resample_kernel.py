"""Numba kernel of the NaN-aware bilinear resampling of a radar window (one pass).

For each map pixel and band: valid when the radar pixel it falls in (nearest, rounding
half to even) is inside the window and valid; its value is then the bilinear mean of
the valid radar pixels among the four around it, weights renormalised (pixels outside
the window or NaN weigh nothing). A result depends only on the pixel's position and the
radar values around it, never on the chunking. float64 sums, no temporaries, no
fastmath; ``nogil`` so that Dask's threads resample chunks in parallel, ``cache`` so
that only the first run in an environment compiles. This module imports numba: import
it where the kernel is first needed.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, error_model="numpy")
def resample(source: np.ndarray, line: np.ndarray, pixel: np.ndarray, out: np.ndarray) -> None:
    """Resample (band, line, pixel) ``source`` at fractional centre indices ``line``,
    ``pixel`` (rows, cols; NaN gives NaN) into float32 ``out`` (band, rows, cols)."""
    bands, lines, pixels = source.shape
    rows, cols = line.shape
    for i in range(rows):
        for j in range(cols):
            at_line, at_pixel = line[i, j], pixel[i, j]
            nearest_line, nearest_pixel = np.rint(at_line), np.rint(at_pixel)
            # also false for NaN
            if not (0 <= nearest_line < lines and 0 <= nearest_pixel < pixels):
                for band in range(bands):
                    out[band, i, j] = np.nan
                continue
            line0, pixel0 = int(np.floor(at_line)), int(np.floor(at_pixel))
            down, right = at_line - line0, at_pixel - pixel0
            for band in range(bands):
                if not np.isfinite(source[band, int(nearest_line), int(nearest_pixel)]):
                    out[band, i, j] = np.nan
                    continue
                weight = 0.0
                total = 0.0
                for di in range(2):
                    li = line0 + di
                    if li < 0 or li >= lines:
                        continue
                    wl = down if di else 1.0 - down
                    for dj in range(2):
                        pj = pixel0 + dj
                        if pj < 0 or pj >= pixels:
                            continue
                        value = source[band, li, pj]
                        if np.isfinite(value):
                            w = wl * (right if dj else 1.0 - right)
                            weight += w
                            total += w * value
                out[band, i, j] = total / weight if weight > 0 else np.nan
