"""The drift reference of a model, from the training tiles of a synthetic store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geocolor.errors import GeocolorError
from geocolor.models.drift import SarHistograms
from geocolor.prepare.store import group_array, open_store, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.train.drift_fit import fit_drift_reference
from tests.test_dataset import SAR_BANDS, write_synthetic_store


def test_reference_counts_training_tiles_only_with_the_pairs_facts(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "store.zarr")
    root = open_store(path, "r")
    tiles = read_tiles(root)
    sar = group_array(root, "pairs/S1A_X__S2A_Y/s1")
    expected = SarHistograms.empty(SAR_BANDS)
    expected.add(np.asarray(sar[:, : 4 * 32]))  # the TRAIN tile rows
    writable = open_store(path, "r+")
    group_array(writable, "pairs/S1A_X__S2A_Y/s1")[:, 4 * 32 :] = 15.0  # VAL and TEST
    pair = writable["pairs/S1A_X__S2A_Y"]
    pair.attrs["s1_acquisition"] = {"product_id": "S1A_X", "mode": "IW", "ipf_version": "003.40"}
    pair.attrs["parameters"] = {"s1": {"speckle": "lee", "measure": "sigma0"}}

    reference = fit_drift_reference(open_store(path, "r"), tiles, max_tiles=1000)

    assert reference.histograms.bands == SAR_BANDS
    assert np.array_equal(reference.histograms.counts, expected.counts)
    facts = reference.facts
    assert facts.modes == ("IW",) and facts.ipf_range == ("003.40", "003.40")
    assert facts.speckle_filters == ("lee",) and facts.polarisations == ("VV", "VH")
    with pytest.raises(GeocolorError, match="no training tiles"):
        fit_drift_reference(root, tiles.of_split(Split.VAL))
