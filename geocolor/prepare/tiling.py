"""Training tiles on a grid: where they are, how much of each is usable, which split.

Tile statistics come from sums over stride x stride blocks (one cheap Dask reduction),
combined into tile sums with a 2-D cumulative sum, so overlapping tiles cost nothing
extra. Splits are spatial: tiles are grouped in square blocks and a whole block goes to
train, val or test, so neighbouring, overlapping tiles never straddle two splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import dask.array as da
import numpy as np

from geocolor.errors import UsageError


class Split(IntEnum):
    """Dataset split of a tile, as stored in the tile index."""

    TRAIN = 0
    VAL = 1
    TEST = 2


@dataclass(frozen=True)
class TileLayout:
    """Tiles of ``size`` pixels every ``stride`` pixels over a ``height`` x ``width`` area."""

    height: int
    width: int
    size: int
    stride: int

    def __post_init__(self) -> None:
        if self.size <= 0 or self.stride <= 0 or self.size % self.stride:
            raise UsageError(
                f"tile size {self.size} must be a positive multiple of the stride {self.stride}"
            )

    @property
    def grid_shape(self) -> tuple[int, int]:
        """Tiles down and across (only whole tiles)."""
        rows = max((self.height - self.size) // self.stride + 1, 0)
        cols = max((self.width - self.size) // self.stride + 1, 0)
        return rows, cols

    def origins(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-left row and column of every tile, row-major, as two 1-D arrays."""
        rows, cols = self.grid_shape
        r, c = np.meshgrid(
            np.arange(rows) * self.stride, np.arange(cols) * self.stride, indexing="ij"
        )
        return r.ravel(), c.ravel()


def tile_fractions(layout: TileLayout, flags: da.Array) -> np.ndarray:
    """Fraction of each tile's pixels where each boolean layer of ``flags`` is set.

    Parameters
    ----------
    layout
        The tiles.
    flags
        (layer, rows, cols) boolean Dask array on the layout's area (e.g. valid, cloud).

    Returns
    -------
    numpy.ndarray
        (layer, n_tiles) float64, tiles in :meth:`TileLayout.origins` order.
    """
    rows, cols = layout.grid_shape
    if rows == 0 or cols == 0:
        return np.zeros((flags.shape[0], 0))
    s, k = layout.stride, layout.size // layout.stride
    covered = flags[:, : (rows - 1 + k) * s, : (cols - 1 + k) * s].astype(np.uint32)
    block_sums = da.coarsen(np.sum, covered, {1: s, 2: s}).compute()
    padded = np.zeros((block_sums.shape[0], block_sums.shape[1] + 1, block_sums.shape[2] + 1))
    padded[:, 1:, 1:] = block_sums.cumsum(axis=1).cumsum(axis=2)
    tile_sums = padded[:, k:, k:] - padded[:, :-k, k:] - padded[:, k:, :-k] + padded[:, :-k, :-k]
    return tile_sums.reshape(flags.shape[0], -1) / float(layout.size**2)


def spatial_split(
    layout: TileLayout,
    block_tiles: int = 8,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Assign each tile a :class:`Split` by the square block of ``block_tiles`` it starts in.

    Returns
    -------
    split, clean
        Split code per tile, and whether the tile lies wholly inside blocks of its own
        split (tiles overlapping another split's block must be dropped to avoid leakage).
    """
    if block_tiles < 1:
        raise UsageError("split block size must be at least one tile")
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise UsageError(f"split fractions {fractions} must be non-negative and sum to 1")
    block = block_tiles * layout.stride
    rows, cols = layout.origins()
    blocks_down = layout.height // block + 1
    blocks_across = layout.width // block + 1
    draws = np.random.default_rng(seed).random((blocks_down, blocks_across))
    edges = np.cumsum(fractions)[:-1]
    block_split = np.searchsorted(edges, draws, side="right").astype(np.uint8)
    first = block_split[rows // block, cols // block]
    last_row = (rows + layout.size - 1) // block
    last_col = (cols + layout.size - 1) // block
    clean = (
        (block_split[last_row, cols // block] == first)
        & (block_split[rows // block, last_col] == first)
        & (block_split[last_row, last_col] == first)
    )
    return first, clean
