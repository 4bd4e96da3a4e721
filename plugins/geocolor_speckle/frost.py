"""Frost (1982): exponentially weighted mean, narrower where the scene varies more."""

from __future__ import annotations

import numpy as np

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import (
    Float32Array,
    box_sum,
    keep_nodata,
    ratio,
    valid_values,
    window_stats,
)
from geocolor_speckle.lee import squared_variation


def frost(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Weight each neighbour by ``exp(-damping * Ci^2 * distance)``.

    As SNAP, the distance is the chessboard distance (the ring of the window a pixel
    lies on), so the weighted sum is a sum over rings, each ring the difference of two
    box sums: a few box filters instead of a convolution per pixel. The quieter the
    window, the flatter the weights; at edges (large ``Ci``) the pixel dominates.
    """
    stats = window_stats(block, params.window)
    decay = params.damping * squared_variation(stats)
    valid, values = valid_values(block)
    numerator = np.zeros_like(decay)
    denominator = np.zeros_like(decay)
    inner_total = np.zeros_like(decay)
    inner_count = np.zeros_like(decay)
    for ring in range(params.window // 2 + 1):
        size = 2 * ring + 1
        total = stats.total if size == params.window else box_sum(values, size)
        count = stats.count if size == params.window else box_sum(valid, size)
        weight = np.exp(-decay * ring)
        numerator += weight * (total - inner_total)
        denominator += weight * (count - inner_count)
        inner_total, inner_count = total, count
    return keep_nodata(block, ratio(numerator, denominator, np.nan))
