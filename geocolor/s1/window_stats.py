"""NaN-aware moving-window statistics for speckle filters (public for filter plugins).

Window sums are direct sums of shifted slices rather than running sums (as
``scipy.ndimage.uniform_filter`` computes them): every pixel then sees the same
additions in the same order wherever it lies in a block, so a chunked image filters to
exactly the unchunked result, and it is also about twice as fast for small windows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.floating[Any]]
Element = TypeVar("Element", bound=np.generic)


def box_sum(values: FloatArray, size: int) -> FloatArray:
    """Sum over the ``size`` x ``size`` window centred on each pixel, zero beyond the edges."""
    half = size // 2
    rows, cols = values.shape
    padded = np.pad(values, half)
    across = padded[:, :cols].copy()
    for shift in range(1, size):
        across += padded[:, shift : shift + cols]
    total = across[:rows].copy()
    for shift in range(1, size):
        total += across[shift : shift + rows]
    return total


def ratio(numerator: FloatArray, denominator: FloatArray, fill: float) -> FloatArray:
    """``numerator / denominator`` where the denominator is positive, ``fill`` elsewhere."""
    dtype = np.result_type(numerator, denominator)
    out = np.full(np.broadcast(numerator, denominator).shape, fill, dtype=dtype)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out


@dataclass(frozen=True)
class WindowStats:
    """Statistics of the valid (non-NaN) pixels of the window around each pixel.

    ``variance`` is the unbiased sample variance, as SNAP's filters use it, and zero
    where fewer than two pixels are valid; ``mean`` is NaN where none is.
    """

    count: FloatArray
    total: FloatArray
    mean: FloatArray
    variance: FloatArray


def valid_values(block: Float32Array) -> tuple[FloatArray, FloatArray]:
    """Validity (1 or 0) and values with nodata as 0, ready to be summed."""
    valid = ~np.isnan(block)
    return valid.astype(np.float64), np.where(valid, block, 0.0).astype(np.float64)


def window_stats(block: Float32Array, size: int) -> WindowStats:
    """Count, sum, mean and variance of the valid pixels in each ``size`` window.

    Sums run in float32 (seven-digit sums of at most a few hundred positive powers are
    ample for speckle statistics, and twice as fast). A block without nodata takes its
    counts from the outer product of the in-bounds rows and columns of each window,
    which equals the box sum of ones exactly.
    """
    valid = ~np.isnan(block)
    values: FloatArray
    count: FloatArray
    if valid.all():
        values = block.astype(np.float32, copy=False)
        count = np.outer(_in_bounds(block.shape[0], size), _in_bounds(block.shape[1], size))
    else:
        values = np.where(valid, block, np.float32(0.0)).astype(np.float32, copy=False)
        count = box_sum(valid.astype(np.float32), size)
    total = box_sum(values, size)
    squares = box_sum(values * values, size)
    mean = ratio(total, count, np.nan)
    spread = np.maximum(squares - total * np.where(count > 0, mean, np.float32(0.0)), 0.0)
    variance = ratio(spread, count - np.float32(1.0), 0.0)
    return WindowStats(count, total, mean, variance)


def _in_bounds(length: int, size: int) -> Float32Array:
    """How many of the ``size`` window positions around each index lie inside 0..length."""
    half = size // 2
    index = np.arange(length)
    first = np.maximum(index - half, 0)
    last = np.minimum(index + half, length - 1)
    return (last - first + 1).astype(np.float32)


def window_offsets(size: int) -> Iterator[tuple[int, int]]:
    """Row and column offsets of every pixel of a ``size`` window around its centre."""
    half = size // 2
    for row in range(-half, half + 1):
        for col in range(-half, half + 1):
            yield row, col


def nan_padded(block: Float32Array, half: int) -> Float32Array:
    """``block`` with ``half`` NaN pixels around it, so shifted views never leave it."""
    return np.pad(block, half, constant_values=np.nan)


def shifted(padded: npt.NDArray[Element], half: int, row: int, col: int) -> npt.NDArray[Element]:
    """The block's pixels moved by (``row``, ``col``): each pixel sees that neighbour."""
    rows = padded.shape[0] - 2 * half
    cols = padded.shape[1] - 2 * half
    return padded[half + row : half + row + rows, half + col : half + col + cols]


def mmse(
    block: Float32Array, mean: FloatArray, variance: FloatArray, noise_variance: float
) -> FloatArray:
    """Lee's minimum mean-square-error estimate under multiplicative speckle.

    The signal variance is ``(var - mean^2 Cu^2) / (1 + Cu^2)`` with ``Cu^2`` the
    speckle's squared coefficient of variation; the estimate moves from the window
    mean towards the pixel by the share of the variance that is signal.
    """
    signal = np.maximum(variance - mean * mean * noise_variance, 0.0) / (1.0 + noise_variance)
    weight = ratio(signal, variance, 0.0)
    return mean + weight * (block - mean)


def keep_nodata(block: Float32Array, filtered: npt.NDArray[np.floating]) -> Float32Array:
    """``filtered`` as float32 with NaN wherever the input was NaN."""
    return np.where(np.isnan(block), np.float32(np.nan), filtered).astype(np.float32)
