"""Median: NaN-aware median of the window, scaled to keep the speckle's mean."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import (
    Float32Array,
    box_sum,
    keep_nodata,
    nan_padded,
    valid_values,
)
from geocolor_speckle.gamma_speckle import speckle_quantile

STRIP_VALUES = 1 << 23
"""Window values sorted at a time (32 MiB of float32), bounding memory per strip."""


def median(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """The median of each window's valid pixels, times the speckle's mean/median ratio.

    The median of L-look intensity lies below its mean (``ln 2`` of it for one look),
    so a plain median, SNAP's, darkens homogeneous areas by up to 1.6 dB; dividing by
    the gamma distribution's median keeps their radiometry. Windows are sorted strip
    by strip (NaN sorts last), and the median of the ``n`` valid values is read at
    ranks ``(n - 1) // 2`` and ``n // 2``: about four times faster than ``np.nanmedian``
    over the same windows and fifty times faster than ``scipy.ndimage.generic_filter``.
    """
    size = params.window
    half = size // 2
    rows, cols = block.shape
    valid, _ = valid_values(block)
    counts = box_sum(valid, size).astype(np.intp)
    lower_rank = np.maximum(counts - 1, 0) // 2
    upper_rank = counts // 2
    padded = nan_padded(block, half)
    strip_rows = max(1, STRIP_VALUES // max(1, cols * size * size))
    medians = np.empty(block.shape, dtype=np.float32)
    for start in range(0, rows, strip_rows):
        stop = min(start + strip_rows, rows)
        views = sliding_window_view(padded[start : stop + 2 * half], (size, size))
        windows = np.sort(views.reshape(stop - start, cols, size * size), axis=-1)
        lower = np.take_along_axis(windows, lower_rank[start:stop, :, None], axis=-1)
        upper = np.take_along_axis(windows, upper_rank[start:stop, :, None], axis=-1)
        medians[start:stop] = 0.5 * (lower[..., 0] + upper[..., 0])
    scale = np.float32(1.0 / speckle_quantile(params.looks, 0.5))
    return keep_nodata(block, np.where(counts > 0, medians * scale, np.float32(np.nan)))
