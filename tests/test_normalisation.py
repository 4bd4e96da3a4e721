from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from geocolor.errors import GeocolorError
from geocolor.models.normalisation import Normalisation
from geocolor.prepare.store import group_array, open_store, read_tiles
from geocolor.prepare.tiling import Split
from tests.test_dataset import OPTICAL_BANDS, SAR_BANDS, write_synthetic_store

SPEC = Normalisation(
    sar_bands=("VV", "VH"),
    sar_low=(-20.0, -30.0),
    sar_high=(0.0, -10.0),
    optical_bands=("B04",),
    optical_low=(0.0,),
    optical_high=(0.2,),
)


def test_bounds_map_to_minus_one_and_one_and_beyond_is_clipped() -> None:
    sar = torch.tensor([[-20.0, -10.0, 0.0, 15.0, -99.0], [-30.0, -20.0, -10.0, -5.0, -40.0]])
    unit, valid = SPEC.sar_to_unit(sar.view(2, 1, 5))
    expected = torch.tensor([[-1.0, 0.0, 1.0, 1.0, -1.0]] * 2).view(2, 1, 5)
    torch.testing.assert_close(unit, expected)
    assert valid.shape == (1, 1, 5) and valid.all()


def test_nan_becomes_zero_and_invalid_in_every_band() -> None:
    sar = torch.full((3, 2, 4, 4), -10.0)
    sar[1, 0, 2, 3] = torch.nan
    unit, valid = SPEC.sar_to_unit(sar)
    assert valid.shape == (3, 1, 4, 4)
    assert not valid[1, 0, 2, 3] and int(valid.sum()) == 3 * 16 - 1
    assert unit[1, 0, 2, 3] == 0 and torch.isfinite(unit).all()


def test_to_reflectance_inverts_within_range() -> None:
    reflectance = torch.tensor([0.0, 0.05, 0.13, 0.2]).view(1, 1, 1, 4)
    unit, _ = SPEC.optical_to_unit(reflectance)
    torch.testing.assert_close(SPEC.to_reflectance(unit), reflectance)
    assert SPEC.to_reflectance(torch.full((1, 1, 1), 3.0)).item() == pytest.approx(0.2)
    torch.testing.assert_close(SPEC.reflectance_range(), torch.tensor([0.2]))


def test_spec_round_trips_through_json() -> None:
    assert Normalisation.from_dict(json.loads(json.dumps(SPEC.to_dict()))) == SPEC
    with pytest.raises(GeocolorError, match="sar_high"):
        Normalisation.from_dict({k: v for k, v in SPEC.to_dict().items() if k != "sar_high"})


def test_inconsistent_bounds_are_refused() -> None:
    with pytest.raises(GeocolorError, match="high must exceed"):
        Normalisation(("VV",), (0.0,), (0.0,), ("B04",), (0.0,), (1.0,))
    with pytest.raises(GeocolorError, match="differ in length"):
        Normalisation(("VV", "VH"), (0.0,), (1.0,), ("B04",), (0.0,), (1.0,))
    with pytest.raises(GeocolorError, match="expected 2 bands"):
        SPEC.sar_to_unit(torch.zeros(3, 4, 4))


def test_from_store_uses_valid_pixels_of_training_tiles_only(tmp_path: Path) -> None:
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

    spec = Normalisation.from_store(root, tiles, percentiles=(2, 98), max_tiles=100)

    assert spec.sar_bands == SAR_BANDS and spec.optical_bands == OPTICAL_BANDS
    valid = np.isfinite(reference_sar).all(0)
    valid[10:14, 10:14] = False
    np.testing.assert_allclose(spec.sar_low, np.percentile(reference_sar[:, valid], 2, axis=1))
    np.testing.assert_allclose(spec.sar_high, np.percentile(reference_sar[:, valid], 98, axis=1))
    np.testing.assert_allclose(
        spec.optical_high, np.percentile(reference_optical[:, valid], 98, axis=1)
    )
    assert max(spec.sar_high) < 50 and max(spec.optical_high) < 1


def test_from_store_samples_deterministically_and_needs_training_tiles(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "store.zarr")
    root = open_store(path, "r")
    tiles = read_tiles(root)
    few = Normalisation.from_store(root, tiles, max_tiles=3, seed=4)
    assert few == Normalisation.from_store(root, tiles, max_tiles=3, seed=4)
    assert few != Normalisation.from_store(root, tiles, max_tiles=100)
    with pytest.raises(GeocolorError, match="no training tiles"):
        Normalisation.from_store(root, tiles.of_split(Split.VAL))
