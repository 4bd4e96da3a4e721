from __future__ import annotations

import dask.array as da
import numpy as np
import pytest

from geocolor.errors import UsageError
from geocolor.prepare.tiling import Split, TileLayout, spatial_split, tile_fractions


def test_layout_keeps_whole_tiles_only() -> None:
    layout = TileLayout(height=530, width=1000, size=256, stride=128)
    assert layout.grid_shape == (3, 6)
    rows, cols = layout.origins()
    assert rows.max() + 256 <= 530 and cols.max() + 256 <= 1000
    assert (rows[:6] == 0).all() and list(cols[:3]) == [0, 128, 256]
    assert TileLayout(100, 100, 256, 256).grid_shape == (0, 0)
    with pytest.raises(UsageError, match="multiple of the stride"):
        TileLayout(100, 100, 256, 100)


@pytest.mark.parametrize("stride", [64, 128, 256])
def test_fractions_equal_direct_counting(stride: int) -> None:
    rng = np.random.default_rng(1)
    flags = rng.random((2, 700, 900)) < [[[0.3]], [[0.8]]]
    layout = TileLayout(700, 900, 256, stride)
    fractions = tile_fractions(layout, da.from_array(flags, chunks=(2, 200, 333)))
    rows, cols = layout.origins()
    expected = np.array(
        [
            [flags[k, r : r + 256, c : c + 256].mean() for r, c in zip(rows, cols, strict=True)]
            for k in (0, 1)
        ]
    )
    np.testing.assert_allclose(fractions, expected)


def test_split_is_spatial_and_leak_free() -> None:
    layout = TileLayout(4096, 4096, 256, 128)
    split, clean = spatial_split(layout, block_tiles=4, fractions=(0.6, 0.2, 0.2), seed=3)
    rows, cols = layout.origins()
    assert set(np.unique(split)) == {Split.TRAIN, Split.VAL, Split.TEST}
    block = 4 * 128
    # a whole block shares one split
    for key in {(r // block, c // block) for r, c in zip(rows, cols, strict=True)}:
        inside = (rows // block == key[0]) & (cols // block == key[1])
        assert len(np.unique(split[inside])) == 1
    # clean tiles of different splits never overlap
    kept_rows, kept_cols, kept_split = rows[clean], cols[clean], split[clean]
    for s in (Split.VAL, Split.TEST):
        a = np.flatnonzero(kept_split == s)
        b = np.flatnonzero(kept_split != s)
        overlap_r = np.abs(kept_rows[a][:, None] - kept_rows[b][None]) < 256
        overlap_c = np.abs(kept_cols[a][:, None] - kept_cols[b][None]) < 256
        assert not (overlap_r & overlap_c).any()
    # deterministic for a seed
    again, _ = spatial_split(layout, block_tiles=4, fractions=(0.6, 0.2, 0.2), seed=3)
    np.testing.assert_array_equal(split, again)


def test_bad_split_settings() -> None:
    layout = TileLayout(1024, 1024, 256, 256)
    with pytest.raises(UsageError, match="sum to 1"):
        spatial_split(layout, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(UsageError, match="at least one tile"):
        spatial_split(layout, block_tiles=0)
