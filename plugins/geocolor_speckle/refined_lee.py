"""Refined Lee (Lee 1981; Lee et al. 1999): MMSE in the half window on the pixel's side."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import (
    Float32Array,
    FloatArray,
    box_sum,
    keep_nodata,
    mmse,
    nan_padded,
    shifted,
    valid_values,
    window_offsets,
    window_stats,
)

SIDES = ((0, 1), (-1, 1), (-1, 0), (-1, -1), (0, -1), (1, -1), (1, 0), (1, 1))
"""Unit (row, col) steps towards right, upper right, up, upper left and their opposites.

Side ``k`` and side ``k + 4`` face each other across edge direction ``k``; side ``k``'s
half window holds the offsets whose dot product with the step is not negative, so it
includes the dividing line and the centre (28 pixels of a 7x7 window, as SNAP's).
"""


def refined_lee(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Lee's MMSE filter over the half window that does not cross the local edge.

    The window is tiled by 3 x 3 overlapping sub-windows (3 x 3 pixels each for the
    classic 7 x 7 window, ``2 * (window // 4) + 1`` in general, centred
    ``(window - sub) / 2`` apart). The largest of the four gradients between opposite
    sub-window means gives the edge direction; of the two half windows along it, the
    one whose outer sub-window mean is closer to the centre's is the pixel's side, and
    the MMSE estimate uses only its pixels. As SNAP, windows with nodata fall back to
    the MMSE estimate over the whole window's valid pixels. Unlike SNAP, which
    estimates the speckle level from the quietest sub-windows, ``Cu^2 = 1/looks`` as in
    the paper and in every other filter here.
    """
    size = params.window
    noise_variance = 1.0 / params.looks
    full = window_stats(block, size)
    half_mean, half_variance = _half_window_stats(block, size, _pixel_side(block, size))
    directional = mmse(block, half_mean, half_variance, noise_variance)
    local = mmse(block, full.mean, full.variance, noise_variance)
    return keep_nodata(block, np.where(full.count == size * size, directional, local))


def _pixel_side(block: Float32Array, size: int) -> npt.NDArray[np.uint8]:
    """Index into :data:`SIDES` of the half window each pixel belongs to."""
    sub_size = 2 * (size // 4) + 1
    step = (size - sub_size) // 2
    _, values = valid_values(block)
    centre = box_sum(values, sub_size) / (sub_size * sub_size)
    padded = np.pad(centre, step)
    towards = [shifted(padded, step, row * step, col * step) for row, col in SIDES]
    gradients = np.stack([np.abs(towards[k] - towards[k + 4]) for k in range(4)])
    direction = np.argmax(gradients, axis=0)
    opposite_closer = np.stack(
        [np.abs(towards[k + 4] - centre) < np.abs(towards[k] - centre) for k in range(4)]
    )
    opposite = np.take_along_axis(opposite_closer, direction[None], axis=0)[0]
    sectors: npt.NDArray[np.uint8] = (direction + 4 * opposite).astype(np.uint8)
    return sectors


def _half_window_stats(
    block: Float32Array, size: int, side: npt.NDArray[np.uint8]
) -> tuple[FloatArray, FloatArray]:
    """Mean and unbiased variance over each pixel's half window (complete windows only).

    Sums run over the window's offsets, each adding the neighbour where it lies in the
    pixel's half (a bit test against the halves holding that offset); values are taken
    relative to the pixel so float32 sums of squares keep their precision.
    """
    half = size // 2
    padded = nan_padded(block, half)
    side_bit = np.left_shift(np.uint8(1), side)
    first = np.zeros(block.shape, dtype=np.float32)
    second = np.zeros_like(first)
    deviation = np.empty_like(first)
    in_half = np.empty(block.shape, dtype=bool)
    for row, col in window_offsets(size):
        halves = sum(
            1 << k
            for k, (side_row, side_col) in enumerate(SIDES)
            if row * side_row + col * side_col >= 0
        )
        np.not_equal(np.bitwise_and(side_bit, np.uint8(halves)), 0, out=in_half)
        np.subtract(shifted(padded, half, row, col), block, out=deviation)
        np.multiply(deviation, in_half, out=deviation)
        first += deviation
        np.multiply(deviation, deviation, out=deviation)
        second += deviation
    count = size * (half + 1)
    mean = block + first.astype(np.float64) / count
    spread = np.maximum(second - first.astype(np.float64) * first / count, 0.0)
    return mean, spread / (count - 1)
