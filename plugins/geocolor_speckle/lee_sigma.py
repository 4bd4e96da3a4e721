"""Improved Lee Sigma (Lee et al. 2009): MMSE over the pixels within the sigma range."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import (
    Float32Array,
    FloatArray,
    WindowStats,
    box_sum,
    keep_nodata,
    mmse,
    nan_padded,
    ratio,
    shifted,
    valid_values,
    window_offsets,
    window_stats,
)
from geocolor_speckle.gamma_speckle import sigma_range, speckle_quantile

POINT_TARGET_PERCENTILE = 0.98
POINT_TARGET_CLUSTER = 5
"""A bright pixel is a point target's centre when more than this many pixels of its
target window are bright too (SNAP's ``targetSize``)."""


def lee_sigma(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Filter each pixel with the neighbours that are plausibly the same scatterer.

    Following Lee et al. (2009) and SNAP: point targets are kept as they are; every
    other pixel gets a first MMSE estimate from its target window, the sigma range
    ``[I1, I2]`` scaled by that estimate selects the window's pixels that speckle
    alone could have produced, and a second MMSE estimate over those, with the
    truncated speckle's variation ``eta``, is the result (the pixel itself where none
    is selected). The range comes from :func:`sigma_range` for any ENL rather than
    from SNAP's table for 1 to 4 looks.

    SNAP compares pixels with the 98th percentile of the whole tile, which would make
    the result depend on the chunking; here the threshold is local: the 98th percentile
    of L-look speckle around the mean of the window outside the target window, so a
    bright cluster does not raise its own threshold. SNAP marks a cluster's pixels
    while scanning, so only pixels after the centre benefit; here all of them do.
    """
    noise_variance = 1.0 / params.looks
    bounds = sigma_range(params.looks, params.sigma)
    target = window_stats(block, params.target_window)
    first_estimate = mmse(block, target.mean, target.variance, noise_variance)
    mean, variance, count = _in_range_stats(
        block, params.window, first_estimate, bounds.low, bounds.high
    )
    refined = np.where(count > 0, mmse(block, mean, variance, bounds.eta**2), block)
    point_targets = _point_targets(block, params, target)
    return keep_nodata(block, np.where(point_targets, block, refined))


def _in_range_stats(
    block: Float32Array, size: int, estimate: FloatArray, low: float, high: float
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Mean, unbiased variance and count of the window's pixels in the sigma range.

    A neighbour is in range when its distance to the range's centre is at most the
    range's radius; the sums are of those distances, so float32 sums of squares keep
    their precision. Nodata enters as 0, outside the range of any positive estimate
    (a non-positive estimate's range is empty or the single value 0, whose mean the
    zeros leave unchanged).
    """
    half = size // 2
    padded = np.pad(np.nan_to_num(block, nan=0.0), half)
    centre = (estimate * (0.5 * (low + high))).astype(np.float32)
    radius = (estimate * (0.5 * (high - low))).astype(np.float32)
    count = np.zeros(block.shape, dtype=np.float32)
    first = np.zeros_like(count)
    second = np.zeros_like(count)
    distance = np.empty_like(count)
    magnitude = np.empty_like(count)
    in_range = np.empty(block.shape, dtype=bool)
    for row, col in window_offsets(size):
        np.subtract(shifted(padded, half, row, col), centre, out=distance)
        np.abs(distance, out=magnitude)
        np.less_equal(magnitude, radius, out=in_range)
        np.multiply(distance, in_range, out=distance)
        count += in_range
        first += distance
        np.multiply(distance, distance, out=distance)
        second += distance
    total = count.astype(np.float64)
    offset = ratio(first.astype(np.float64), total, 0.0)
    spread = np.maximum(second - first * offset, 0.0)
    return centre + offset, ratio(spread, total - 1.0, 0.0), total


def lee_sigma_halo(window: int) -> int:
    """Half the window plus half the largest target window (which is the window).

    A bright pixel is kept when it lies in the target window of a detected centre and
    exceeds that centre's threshold, which is drawn from the centre's whole window.
    """
    return 2 * (window // 2)


def _point_targets(
    block: Float32Array, params: SpeckleParams, target: WindowStats
) -> npt.NDArray[np.bool_]:
    """Bright clusters as Lee et al. (2009) find them, to be left unfiltered.

    A centre is a pixel above its 98th-percentile threshold with more than five such
    pixels in its target window; all pixels of that target window above the centre's
    threshold are point-target pixels.
    """
    valid, values = valid_values(block)
    outer_count = box_sum(valid, params.window) - target.count
    outer_total = box_sum(values, params.window) - target.total
    background = np.where(outer_count > 0, ratio(outer_total, outer_count, 0.0), target.mean)
    quantile = speckle_quantile(params.looks, POINT_TARGET_PERCENTILE)
    threshold = (background * quantile).astype(np.float32)
    half = params.target_window // 2
    padded = nan_padded(block, half)
    bright = np.zeros(block.shape, dtype=np.int16)
    for row, col in window_offsets(params.target_window):
        bright += shifted(padded, half, row, col) > threshold
    centres = np.pad((block > threshold) & (bright > POINT_TARGET_CLUSTER), half)
    padded_threshold = nan_padded(threshold, half)
    marked = np.zeros(block.shape, dtype=bool)
    for row, col in window_offsets(params.target_window):
        marked |= shifted(centres, half, row, col) & (
            block > shifted(padded_threshold, half, row, col)
        )
    return marked
