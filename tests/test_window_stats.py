"""The window statistics and the window-filter adapter that speckle filter plugins build on."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_filter import STRIP_PIXELS, WindowFilter
from geocolor.s1.window_stats import keep_nodata, window_stats


def noisy_block(rows: int, cols: int, nodata: float) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(7)
    block = rng.gamma(1.0, 0.1, (rows, cols)).astype(np.float32)
    block[rng.random((rows, cols)) < nodata] = np.nan
    return block


@pytest.mark.parametrize("nodata", [0.0, 0.2])
def test_window_stats_are_those_of_the_valid_pixels_of_each_window(nodata: float) -> None:
    block = noisy_block(9, 11, nodata)
    size, half = 5, 2
    stats = window_stats(block, size)
    for row in range(block.shape[0]):
        for col in range(block.shape[1]):
            window = block[max(row - half, 0) : row + half + 1, max(col - half, 0) : col + half + 1]
            values = window[~np.isnan(window)].astype(np.float64)
            assert stats.count[row, col] == values.size
            assert stats.total[row, col] == pytest.approx(values.sum(), rel=1e-5)
            assert stats.mean[row, col] == pytest.approx(values.mean(), rel=1e-5)
            assert stats.variance[row, col] == pytest.approx(values.var(ddof=1), rel=1e-4, abs=1e-9)


def test_window_stats_of_an_empty_window_are_nan_mean_and_zero_variance() -> None:
    block = np.full((4, 4), np.nan, dtype=np.float32)
    block[0, 0] = 1.0
    stats = window_stats(block, 3)
    assert stats.count[3, 3] == 0 and np.isnan(stats.mean[3, 3]) and stats.variance[3, 3] == 0
    assert stats.count[0, 0] == 1 and stats.mean[0, 0] == 1 and stats.variance[0, 0] == 0


def test_window_filter_strips_join_into_the_whole_block_result() -> None:
    def local_mean(
        block: npt.NDArray[np.float32], params: SpeckleParams
    ) -> npt.NDArray[np.float32]:
        return keep_nodata(block, window_stats(block, params.window).mean)

    cols = 64
    rows = 3 * STRIP_PIXELS // cols + 5
    block = noisy_block(rows, cols, 0.05)
    params = SpeckleParams(window=5)
    in_strips = WindowFilter("local-mean", local_mean).apply(block, params)
    whole = WindowFilter("local-mean", local_mean, in_strips=False).apply(block, params)
    assert in_strips.dtype == np.float32
    np.testing.assert_array_equal(in_strips, whole)
    np.testing.assert_array_equal(np.isnan(in_strips), np.isnan(block))
