"""Numba kernel of the Lee filter: window statistics and the MMSE blend in one pass.

Each pixel's window sums are taken in one fixed order, float64 throughout: the column
sums of the window's rows from top to bottom, then those column sums from left to
right, with pixels beyond the block or NaN adding exactly zero. A pixel's result thus
depends only on its window, never on where a chunk or strip starts, so chunked images
filter bit for bit to the unchunked result. Compiled without fastmath (deterministic);
``nogil`` lets Dask's threads filter chunks in parallel; ``cache`` keeps the machine
code on disk (numba keys it by the window size too), so only the first run in an
environment compiles. numba itself (and its LLVM bindings) is imported when the first
kernel is built, not when the plugins are loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
import numpy.typing as npt

LeeKernel = Callable[[npt.NDArray[np.float32], float, npt.NDArray[np.float32]], None]


@cache
def lee_kernel(size: int) -> LeeKernel:
    """The Lee kernel for ``size`` x ``size`` windows.

    The size is a compile-time constant of each kernel, which lets LLVM unroll the
    window loops and vectorise across columns (twice as fast as a size argument).
    The kernel ``(block, speckle_variation, out)`` writes Lee's estimate of every
    pixel of ``block`` (linear power, NaN as nodata, C-contiguous) into ``out``
    (float32 of the same shape): NaN where ``block`` is NaN, the window mean where the
    window varies no more than speckle (``Ci^2 <= speckle_variation = Cu^2``), else
    the mean moved towards the pixel by ``1 - Cu^2 / Ci^2``.
    """
    import numba

    half = size // 2

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(
        block: npt.NDArray[np.float32],
        speckle_variation: float,
        out: npt.NDArray[np.float32],
    ) -> None:
        rows, cols = block.shape
        # count, sum and sum of squares of each column of a row's windows, with ``half``
        # zeros each side so that every window sum has ``size`` terms
        count = np.zeros(cols + 2 * half)
        total = np.zeros(cols + 2 * half)
        squares = np.zeros(cols + 2 * half)
        for row in range(rows):
            for col in range(cols):
                column_count = 0.0
                column_total = 0.0
                column_squares = 0.0
                for offset in range(size):
                    line = row - half + offset
                    value = np.float64(block[min(max(line, 0), rows - 1), col])
                    valid = 0 <= line < rows and value == value
                    kept = value if valid else 0.0
                    column_count += 1.0 if valid else 0.0
                    column_total += kept
                    column_squares += kept * kept
                count[half + col] = column_count
                total[half + col] = column_total
                squares[half + col] = column_squares
            for col in range(cols):
                window_count = 0.0
                window_total = 0.0
                window_squares = 0.0
                for offset in range(size):
                    window_count += count[col + offset]
                    window_total += total[col + offset]
                    window_squares += squares[col + offset]
                value = np.float64(block[row, col])
                mean = window_total / window_count
                spread = max(window_squares - window_total * mean, 0.0)
                variance = spread / (window_count - 1.0) if window_count > 1.0 else 0.0
                variation = variance / (mean * mean) if mean > 0.0 else 0.0
                weight = (variation - speckle_variation) / variation if variation > 0.0 else 0.0
                estimate = mean + max(weight, 0.0) * (value - mean)
                out[row, col] = estimate if value == value else np.nan

    return kernel
