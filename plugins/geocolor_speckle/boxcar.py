"""Boxcar: the mean of the valid pixels in the window."""

from __future__ import annotations

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import (
    Float32Array,
    box_sum,
    keep_nodata,
    ratio,
    valid_values,
)


def boxcar(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Average every pixel with its window; the reference for how much smoothing costs."""
    valid, values = valid_values(block)
    mean = ratio(box_sum(values, params.window), box_sum(valid, params.window), 0.0)
    return keep_nodata(block, mean)
