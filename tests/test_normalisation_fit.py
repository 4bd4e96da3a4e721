"""Normalisation bounds estimated from the training tiles of a synthetic store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geocolor.errors import GeocolorError
from geocolor.prepare.store import group_array, open_store, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.train.normalisation_fit import fit_normalisation
from tests.test_dataset import OPTICAL_BANDS, SAR_BANDS, write_synthetic_store


def test_fit_uses_valid_pixels_of_training_tiles_only(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "store.zarr")
    root = open_store(path, "r")
    tiles = read_tiles(root)
    sar = group_array(root, "pairs/S1A_X__S2A_Y/s1")
    optical = group_array(root, "pairs/S1A_X__S2A_Y/s2")
    val_rows = slice(4 * 32, 6 * 32)  # the VAL and TEST tile rows
    reference_sar = np.asarray(sar[:, : 4 * 32])
    reference_optical = np.asarray(optical[:, : 4 * 32])
    writable = open_store(path, "r+")
    group_array(writable, "pairs/S1A_X__S2A_Y/s1")[:, val_rows] = 90.0  # would widen bounds
    group_array(writable, "pairs/S1A_X__S2A_Y/s2")[:, 10:14, 10:14] = 5.0  # under the SCL mask

    spec = fit_normalisation(root, tiles, percentiles=(2, 98), max_tiles=100)

    assert spec.sar_bands == SAR_BANDS and spec.optical_bands == OPTICAL_BANDS
    valid = np.isfinite(reference_sar).all(0)
    valid[10:14, 10:14] = False
    np.testing.assert_allclose(spec.sar_low, np.percentile(reference_sar[:, valid], 2, axis=1))
    np.testing.assert_allclose(spec.sar_high, np.percentile(reference_sar[:, valid], 98, axis=1))
    np.testing.assert_allclose(
        spec.optical_high, np.percentile(reference_optical[:, valid], 98, axis=1)
    )
    assert max(spec.sar_high) < 50 and max(spec.optical_high) < 1


def test_fit_samples_deterministically_and_needs_training_tiles(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "store.zarr")
    root = open_store(path, "r")
    tiles = read_tiles(root)
    few = fit_normalisation(root, tiles, max_tiles=3, seed=4)
    assert few == fit_normalisation(root, tiles, max_tiles=3, seed=4)
    assert few != fit_normalisation(root, tiles, max_tiles=100)
    with pytest.raises(GeocolorError, match="no training tiles"):
        fit_normalisation(root, tiles.of_split(Split.VAL))
