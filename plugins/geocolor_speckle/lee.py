"""Lee (1980): local-statistics filter with the speckle level fixed by the looks."""

from __future__ import annotations

import numpy as np

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import Float32Array, FloatArray, WindowStats, ratio
from geocolor_speckle.lee_kernel import lee_kernel


def squared_variation(stats: WindowStats) -> FloatArray:
    """``Ci^2 = var / mean^2`` of each window, 0 where the mean is not positive.

    SNAP answers a window with a non-positive mean by its mean; a zero ``Ci`` gives
    exactly that in every filter that tests ``Ci`` against ``Cu``.
    """
    positive_mean = np.where(stats.mean > 0, stats.mean, 0.0)
    return ratio(stats.variance, positive_mean * positive_mean, 0.0)


def lee(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Blend each pixel with its window mean by the weight ``1 - Cu^2 / Ci^2``.

    As SNAP's Lee: ``Cu = 1/sqrt(looks)`` is the speckle's coefficient of variation and
    ``Ci`` the window's; where the window varies no more than speckle does
    (``Ci <= Cu``) the result is the mean, and the stronger the texture or edge, the
    more of the pixel is kept. The window statistics are those of
    :func:`geocolor.s1.window_stats.window_stats` (valid pixels only, unbiased
    variance), computed with the blend in one numba pass.
    """
    filtered = np.empty(block.shape, dtype=np.float32)
    kernel = lee_kernel(params.window)
    kernel(np.ascontiguousarray(block, dtype=np.float32), 1.0 / params.looks, filtered)
    return filtered
