"""The :class:`~geocolor.models.drift.DriftReference` of a model, from the prepared store.

Like the normalisation, it describes the TRAINING tiles only: histograms of their SAR
bands in dB, and the facts of the products they come from (each pair's recorded
acquisition and Sentinel-1 settings). It is logged inside the model, so ``colorize``
can tell a scene unlike the training data without the store.
"""

from __future__ import annotations

from dataclasses import replace
from functools import reduce
from typing import Any

import numpy as np
import zarr

from geocolor.errors import GeocolorError
from geocolor.models.drift import DriftReference, SarHistograms
from geocolor.models.drift_facts import SarFacts, scene_facts
from geocolor.prepare.store import PAIRS, TileTable, read_tile
from geocolor.prepare.tiling import Split
from geocolor.s1.raster import band_polarisation
from geocolor.train.dataset import store_layout


def fit_drift_reference(
    root: zarr.Group, tiles: TileTable, max_tiles: int = 256, seed: int = 0
) -> DriftReference:
    """Histograms of a sample of training tiles and the facts of every training pair.

    Parameters
    ----------
    root
        The open store.
    tiles
        The tile index; only its TRAIN tiles are read.
    max_tiles
        Most tiles read, drawn without replacement with ``seed`` (a tile is one chunk
        read; the histograms are cheap, so the sample can be larger than the
        normalisation's).

    Raises
    ------
    GeocolorError
        When there is no training tile.
    """
    layout = store_layout(root)
    train = tiles.of_split(Split.TRAIN)
    if not len(train):
        raise GeocolorError(f"{root.store_path}: no training tiles for the drift reference")
    histograms = SarHistograms.empty(layout.sar_bands)
    picked = np.sort(np.random.default_rng(seed).permutation(len(train))[: max(max_tiles, 1)])
    for i in picked:
        sar, _ = read_tile(
            root, str(train.pair[i]), int(train.row[i]), int(train.col[i]), layout.tile_size
        )
        histograms.add(sar)
    pairs = sorted({str(pair) for pair in train.pair})
    facts = reduce(SarFacts.union, (_pair_facts(root, pair) for pair in pairs))
    # what a scene must offer is the model's input, whatever else the products held
    polarisations = tuple(band_polarisation(band) for band in layout.sar_bands)
    return DriftReference(histograms, replace(facts, polarisations=polarisations))


def _pair_facts(root: zarr.Group, pair: str) -> SarFacts:
    """One pair's facts from its provenance attributes (older stores: its product name)."""
    attrs = root[f"{PAIRS}/{pair}"].attrs
    acquisition: Any = attrs.get("s1_acquisition") or {"product_id": attrs.get("s1_product")}
    parameters: Any = attrs.get("parameters")
    processing = parameters.get("s1") if isinstance(parameters, dict) else None
    return scene_facts(acquisition, processing if isinstance(processing, dict) else None)
