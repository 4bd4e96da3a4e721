"""A NaN, infinite or absurd value in a calibration or noise LUT stops the run.

Each case damages one number of one vector in a copy of a small synthetic product and
runs ``geocolor -q process-s1``: exit 1, one line naming the XML file and the vector,
and no output written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from geocolor.cli import main
from geocolor.errors import GeocolorError
from geocolor.s1.lut_ranges import (
    AZIMUTH_NOISE,
    CALIBRATION_GAIN,
    RANGE_NOISE,
    LutRange,
    check_lut,
)
from tests.bad_products import copy_of, member, pristine, replace_first_value

VECTORS = {
    "sigmaNought": "calibration-*.xml",
    "betaNought": "calibration-*.xml",
    "gamma": "calibration-*.xml",
    "dn": "calibration-*.xml",
    "noiseRangeLut": "noise-*.xml",
    "noiseAzimuthLut": "noise-*.xml",
}
BAD_VALUES = ["nan", "inf", "-inf", "1e400", "1e-300"]


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pristine(tmp_path_factory.mktemp("s1"))


@pytest.mark.parametrize("value", BAD_VALUES)
@pytest.mark.parametrize("vector", VECTORS)
def test_bad_lut_value_is_refused(
    product: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], vector: str, value: str
) -> None:
    safe = copy_of(product, tmp_path)
    xml = member(safe, f"annotation/calibration/{VECTORS[vector]}")
    replace_first_value(xml, vector, value)
    output = tmp_path / "out.tif"

    code = main(["-q", "process-s1", str(safe), "-o", str(output)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err and "internal error" not in err
    assert xml.name in err and f"{vector} vector" in err
    assert not output.exists()


def test_time_and_line_name_the_vector(
    product: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    safe = copy_of(product, tmp_path)
    replace_first_value(member(safe, "annotation/calibration/noise-*.xml"), "noiseRangeLut", "nan")
    assert main(["-q", "process-s1", str(safe), "-o", str(tmp_path / "out.tif")]) == 1
    err = capsys.readouterr().err
    assert "noiseRangeLut vector at line 0 (20" in err


@pytest.mark.parametrize(
    ("allowed", "good"),
    [
        (CALIBRATION_GAIN, [237.5, 474.0, 665.7]),  # values of real IW products
        (RANGE_NOISE, [0.0, 2443.9, 2841.5]),
        (AZIMUTH_NOISE, [0.9995, 1.0, 1.1388]),
    ],
)
def test_real_values_pass_and_edges_hold(allowed: LutRange, good: list[float]) -> None:
    check_lut(np.array(good), allowed, "f.xml", "v")
    with pytest.raises(GeocolorError, match=r"f\.xml: v holds .* at position 1"):
        check_lut(np.array([good[0], allowed.high * 2]), allowed, "f.xml", "v")
