"""Missing, garbled or empty metadata gives one line naming the file, never an internal error.

Each case changes one field of a small synthetic product the way a bad edit or a broken
download would, and runs ``geocolor -q process-s1`` (Sentinel-1) or opens the product
(Sentinel-2, as ``prepare`` does).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import GeocolorError
from geocolor.io.xml import required_integer, required_time
from geocolor.s2.product import open_s2
from tests.bad_products import LAYOUT, copy_of, member, pristine, replace_element_text

ANNOTATION = "annotation/s1a*.xml"
CALIBRATION = "annotation/calibration/calibration-*.xml"
NOISE = "annotation/calibration/noise-*.xml"

S1_CASES = [
    ("manifest.safe", "safe:startTime", "yesterday", "holds no valid time"),
    ("manifest.safe", "safe:orbitNumber", "x1", "holds a non-integer"),
    ("manifest.safe", "s1sarl1:productType", "", "missing or empty"),
    (ANNOTATION, "numberOfLines", "1e3x", "not a whole number"),
    (ANNOTATION, "latitude", "north", "non-number"),
    (ANNOTATION, "height", "nan", "non-finite"),
    (ANNOTATION, "pixel", "inf", "non-finite"),
    (ANNOTATION, "rangePixelSpacing", "", "missing or empty"),
    (CALIBRATION, "line", "1.5", "non-integer"),
    (CALIBRATION, "pixel", "a b", "non-number"),
    (NOISE, "firstAzimuthLine", "zero", "non-integer"),
    (NOISE, "line", "x", "non-integer"),
]

S2_CASES = [
    ("GRANULE/*/MTD_TL.xml", "SENSING_TIME", "noon", "holds no valid time"),
    ("GRANULE/*/MTD_TL.xml", "HORIZONTAL_CS_CODE", "EPSG:abc", "is not a CRS"),
    ("GRANULE/*/MTD_TL.xml", "NCOLS", "nan", "non-integer"),
    ("GRANULE/*/MTD_TL.xml", "NROWS", "-5", "x -5 pixels"),
    ("MTD_MSIL2A.xml", "EXT_POS_LIST", "1 2 3", "EXT_POS_LIST"),
    ("MTD_MSIL2A.xml", "PRODUCT_URI", "", "missing or empty"),
]


@pytest.fixture(scope="module")
def s1(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pristine(tmp_path_factory.mktemp("s1"))


@pytest.fixture(scope="module")
def s2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s2(tmp_path_factory.mktemp("s2"), layout=LAYOUT, seed=1)


def refusal(safe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The one line ``geocolor -q process-s1`` prints for ``safe``, after checking exit 1."""
    output = tmp_path / "out.tif"
    code = main(["-q", "process-s1", str(safe), "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("geocolor: error: ")
    assert not output.exists()
    return err


@pytest.mark.parametrize(("pattern", "tag", "text", "says"), S1_CASES, ids=lambda v: str(v))
def test_garbled_s1_field(
    s1: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    pattern: str,
    tag: str,
    text: str,
    says: str,
) -> None:
    safe = copy_of(s1, tmp_path)
    xml = member(safe, pattern)
    replace_element_text(xml, tag, text)
    err = refusal(safe, tmp_path, capsys)
    assert xml.name in err and says in err


@pytest.mark.parametrize("pattern", ["manifest.safe", ANNOTATION, CALIBRATION, NOISE])
def test_empty_s1_xml(
    s1: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], pattern: str
) -> None:
    safe = copy_of(s1, tmp_path)
    xml = member(safe, pattern)
    xml.write_bytes(b"")
    err = refusal(safe, tmp_path, capsys)
    assert xml.name in err and "malformed XML" in err


@pytest.mark.parametrize(("pattern", "tag", "text", "says"), S2_CASES, ids=lambda v: str(v))
def test_garbled_s2_field(
    s2: Path, tmp_path: Path, pattern: str, tag: str, text: str, says: str
) -> None:
    safe = copy_of(s2, tmp_path)
    xml = member(safe, pattern)
    replace_element_text(xml, tag, text)
    with pytest.raises(GeocolorError, match=says) as refused:
        open_s2(safe).footprint()
    assert xml.name in str(refused.value) and "\n" not in str(refused.value)


def test_integer_and_time_helpers() -> None:
    root = ET.fromstring("<a><n>12.0</n><m>12.5</m><t>2021-06-14T05:26:47.5</t></a>")
    assert required_integer(root, "n", "f.xml") == 12
    with pytest.raises(GeocolorError, match=r"f\.xml: element 'm' holds a non-integer"):
        required_integer(root, "m", "f.xml")
    assert required_time(root, "t", "f.xml") == datetime(2021, 6, 14, 5, 26, 47, 500000, UTC)
