from __future__ import annotations

import json

import pytest
import torch

from geocolor.errors import GeocolorError
from geocolor.models.normalisation import Normalisation

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
