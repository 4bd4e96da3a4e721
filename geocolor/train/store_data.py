"""The prepared store as training and evaluation see it: tile index, layout, fingerprint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.prepare.store import TileTable, open_store, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import (
    StoreLayout,
    store_fingerprint,
    store_layout,
    store_optical_conventions,
    store_sar_processing,
)


@dataclass(frozen=True)
class StoreData:
    """The store as training sees it."""

    path: str
    layout: StoreLayout
    tiles: TileTable
    fingerprint: str
    sar_processing: dict[str, Any] | None
    optical_conventions: dict[str, Any] | None

    @classmethod
    def open(cls, path: str) -> StoreData:
        """Read the tile index, band layout and fingerprint of the store at ``path``."""
        root = open_store(path, "r")
        tiles = read_tiles(root)
        return cls(
            path,
            store_layout(root),
            tiles,
            store_fingerprint(root, tiles),
            store_sar_processing(root),
            store_optical_conventions(root),
        )

    def split(self, split: Split, max_tiles: int | None = None) -> TileTable:
        """Tiles of ``split``, at most ``max_tiles`` spread evenly over the index."""
        tiles = self.tiles.of_split(split)
        if not len(tiles):
            raise GeocolorError(f"{self.path}: the store has no {split.name.lower()} tiles")
        if max_tiles is not None and len(tiles) > max_tiles:
            tiles = tiles.select(np.linspace(0, len(tiles) - 1, max_tiles).round().astype(int))
        return tiles
