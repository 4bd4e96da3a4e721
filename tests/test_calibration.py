"""Calibration LUTs of the real products: parsing, interpolation, chunked calibration.

The reference is deliberately independent of the code under test: scipy's
RegularGridInterpolator built over the whole LUT and evaluated on dense windows. The
library never makes a LUT dense; :func:`expanded` does it here, from the separable
pieces the calibration kernel combines.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator

from geocolor.errors import GeocolorError
from geocolor.s1.calibration import (
    MEASURES,
    POWER_FLOOR,
    CalibrationLuts,
    lut_window,
    parse_calibration,
)
from geocolor.s1.noise import LutWindow
from geocolor.s1.radar_chain import calibrate
from geocolor.s1.safe import open_safe

ZIP_2021 = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip"
ZIP_2015 = "S1A_IW_GRDH_1SDV_20150222T170750_20150222T170815_004739_005DD8_3768.zip"
CHUNK = 777  # odd, so chunk borders fall between LUT lines and pixels

# (row0, col0, height, width): top-left corner, across LUT line 674 and chunk border
# 777, ending one line past LUT line 674, across LUT pixels and chunk border 9324,
# and the bottom-right image corner.
WINDOWS = [
    (0, 0, 40, 50),
    (640, 700, 170, 120),
    (600, 4000, 76, 60),
    (1500, 9300, 120, 90),
    (16790, 25850, 64, 81),
]


@pytest.fixture
def luts(shared_data: Path) -> CalibrationLuts:
    return open_safe(shared_data / "s1" / ZIP_2021).calibration("VV")


@pytest.fixture
def calibration_xml(shared_data: Path) -> bytes:
    """The real VV calibration file of the IPF 3.31 product, read straight from the zip."""
    with zipfile.ZipFile(shared_data / "s1" / ZIP_2021) as archive:
        name = next(n for n in archive.namelist() if "/calibration-s1a-iw-grd-vv-" in n)
        return archive.read(name)


def dn_at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """DN varying with the image position, with scattered zeros (no data)."""
    return ((rows.astype(np.int64) * 7919 + cols.astype(np.int64) * 104729) % 3001).astype(
        np.uint16
    )


def synthetic_dn(shape: tuple[int, int], chunks: int = CHUNK) -> da.Array:
    return da.fromfunction(dn_at, shape=shape, chunks=chunks, dtype=np.uint16)


def dense_dn(row0: int, col0: int, height: int, width: int) -> np.ndarray:
    rows, cols = np.ogrid[row0 : row0 + height, col0 : col0 + width]
    return dn_at(rows, cols)


def dense_lut(
    lines: np.ndarray, pixels: np.ndarray, values: np.ndarray, window: tuple[int, ...]
) -> np.ndarray:
    row0, col0, height, width = window
    interpolator = RegularGridInterpolator((lines.astype(float), pixels.astype(float)), values)
    rows, cols = np.meshgrid(
        np.arange(row0, row0 + height), np.arange(col0, col0 + width), indexing="ij"
    )
    return interpolator(np.stack([rows, cols], axis=-1))


def expanded(window: LutWindow) -> np.ndarray:
    """The dense window: each line mixes its two bracketing rows by its weight."""
    before = window.rows[window.before]
    after = window.rows[window.before + 1]
    return window.weight[:, np.newaxis] * (after - before) + before


def interpolate_lut(
    lines: np.ndarray,
    pixels: np.ndarray,
    values: np.ndarray,
    row0: int,
    col0: int,
    shape: tuple[int, int],
) -> np.ndarray:
    return expanded(lut_window(lines, pixels, values, row0, col0, shape))


def test_parse_real_calibration(shared_data: Path) -> None:
    vv_2021 = open_safe(shared_data / "s1" / ZIP_2021).calibration("VV")
    assert vv_2021.sigma0.shape == (27, 650)
    assert vv_2021.lines[:3].tolist() == [0, 674, 1348]
    assert vv_2021.lines[-1] == 17529
    assert vv_2021.pixels[[0, 1, -1]].tolist() == [0, 40, 25930]
    assert vv_2021.sigma0[0, :2].tolist() == [6.657139e02, 6.654355e02]
    assert vv_2021.gamma0[0, 0] == 6.180624e02
    assert np.all(vv_2021.beta0 == 4.74e02)
    assert np.all(vv_2021.dn == 4.74e02)
    vh_2015 = open_safe(shared_data / "s1" / ZIP_2015).calibration("VH")
    assert vh_2015.sigma0.shape == (27, 636)
    assert vh_2015.pixels[-1] == 25367
    assert vh_2015.sigma0[0, 0] == 6.645881e02
    for table in (vh_2015.sigma0, vh_2015.beta0, vh_2015.gamma0, vh_2015.dn):
        assert table.dtype == np.float64


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("measure", MEASURES)
def test_lut_window_matches_regular_grid_interpolator(
    luts: CalibrationLuts, measure: str, window: tuple[int, int, int, int]
) -> None:
    row0, col0, height, width = window
    values = getattr(luts, measure)
    dense = interpolate_lut(luts.lines, luts.pixels, values, row0, col0, (height, width))
    expected = dense_lut(luts.lines, luts.pixels, values, window)
    np.testing.assert_allclose(dense, expected, rtol=1e-12)


@pytest.mark.parametrize("window", WINDOWS)
def test_lut_window_along_lines(luts: CalibrationLuts, window: tuple[int, ...]) -> None:
    # Real GRD gains are constant along lines; a per-line ramp checks that direction too.
    values = luts.sigma0 * (1.0 + 0.01 * np.arange(len(luts.lines)))[:, np.newaxis]
    row0, col0, height, width = window
    dense = interpolate_lut(luts.lines, luts.pixels, values, row0, col0, (height, width))
    expected = dense_lut(luts.lines, luts.pixels, values, window)
    np.testing.assert_allclose(dense, expected, rtol=1e-12)


def test_lut_window_hits_the_nodes_and_clamps_past_the_ends(luts: CalibrationLuts) -> None:
    node_rows = interpolate_lut(luts.lines, luts.pixels, luts.sigma0, 674, 0, (1, 25931))
    np.testing.assert_allclose(node_rows[0, luts.pixels], luts.sigma0[1], rtol=1e-12)
    past = interpolate_lut(luts.lines, luts.pixels, luts.sigma0, 17600, 25900, (3, 60))
    np.testing.assert_allclose(past[:, 31:], luts.sigma0[-1, -1], rtol=1e-12)
    before = interpolate_lut(luts.lines, luts.pixels, luts.sigma0, -5, -5, (5, 5))
    np.testing.assert_allclose(before, luts.sigma0[0, 0], rtol=1e-12)


def test_lut_window_keeps_only_the_bracketing_rows(luts: CalibrationLuts) -> None:
    inside = lut_window(luts.lines, luts.pixels, luts.sigma0, 700, 100, (256, 300))
    assert inside.rows.shape == (2, 300)  # lines 700-955 lie between LUT lines 674, 1348
    np.testing.assert_array_equal(inside.before, 0)
    across = lut_window(luts.lines, luts.pixels, luts.sigma0, 1300, 0, (100, 10))
    assert across.rows.shape == (3, 10)
    assert across.before[[0, 47, 48, -1]].tolist() == [0, 0, 1, 1]  # LUT line 1348
    single = lut_window(luts.lines[:1], luts.pixels, luts.sigma0[:1], 50, 0, (4, 60))
    along_pixels = np.interp(np.arange(60), luts.pixels, luts.sigma0[0])
    np.testing.assert_array_equal(expanded(single), np.tile(along_pixels, (4, 1)))


def test_lut_window_does_not_depend_on_where_the_window_starts(luts: CalibrationLuts) -> None:
    values = luts.sigma0 * (1.0 + 0.01 * np.arange(len(luts.lines)))[:, np.newaxis]
    whole = interpolate_lut(luts.lines, luts.pixels, values, 600, 9000, (900, 700))
    for row0, col0, height, width in [(0, 0, 74, 41), (74, 41, 700, 333), (777, 600, 123, 100)]:
        window = interpolate_lut(
            luts.lines, luts.pixels, values, 600 + row0, 9000 + col0, (height, width)
        )
        np.testing.assert_array_equal(window, whole[row0 : row0 + height, col0 : col0 + width])


@pytest.mark.parametrize("measure", MEASURES)
def test_kernel_computes_the_dense_formula_bit_for_bit(luts: CalibrationLuts, measure: str) -> None:
    shape = (1600, 2100)  # chunks of 777 cut it across LUT lines 674 and 1348
    calibrated = calibrate(synthetic_dn(shape), luts, measure, origin=(300, 8000)).compute()
    gain = interpolate_lut(luts.lines, luts.pixels, getattr(luts, measure), 300, 8000, shape)
    dn = dense_dn(0, 0, *shape).astype(np.float64)
    expected = np.maximum(dn * dn / (gain * gain), POWER_FLOOR).astype(np.float32)
    expected[dn == 0] = np.nan
    np.testing.assert_array_equal(calibrated, expected)


@pytest.mark.parametrize("measure", MEASURES)
def test_chunked_calibrate_equals_dense(luts: CalibrationLuts, measure: str) -> None:
    shape = (16854, 25931)
    calibrated = calibrate(synthetic_dn(shape), luts, measure)
    assert isinstance(calibrated, da.Array)
    assert calibrated.dtype == np.float32
    assert calibrated.chunks == synthetic_dn(shape).chunks
    no_data = 0
    for window in WINDOWS:
        row0, col0, height, width = window
        result = calibrated[row0 : row0 + height, col0 : col0 + width].compute()
        dn = dense_dn(*window).astype(np.float64)
        gain = dense_lut(luts.lines, luts.pixels, getattr(luts, measure), window)
        expected = np.maximum(dn**2 / gain**2, POWER_FLOOR)
        expected[dn == 0] = np.nan
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, expected.astype(np.float32), rtol=2e-7)
        assert np.array_equal(np.isnan(result), dn == 0)
        no_data += int(np.sum(dn == 0))
    assert no_data > 0  # the windows do hold no-data pixels


def test_no_data_is_nan_and_floor_applies(luts: CalibrationLuts) -> None:
    dn = np.zeros((100, 3), dtype=np.uint16)
    dn[:, 1] = 1  # DN² / A² ≈ 2.3e-6 for A ≈ 665, under the floor
    dn[:, 2] = 1000
    sigma0 = calibrate(da.from_array(dn, chunks=33), luts).compute()
    assert np.isnan(sigma0[:, 0]).all()
    assert (sigma0[:, 1] == np.float32(POWER_FLOOR)).all()
    assert (sigma0[:, 2] > 1.0).all()


def test_unknown_measure_is_refused(luts: CalibrationLuts) -> None:
    with pytest.raises(GeocolorError, match="sigma1"):
        calibrate(synthetic_dn((10, 10)), luts, "sigma1")


def test_vectors_with_own_pixel_axes_are_refused(calibration_xml: bytes) -> None:
    xml = calibration_xml.decode()
    marker = '<pixel count="650">0 40 '
    second = xml.index(marker, xml.index(marker) + 1)
    shifted = xml[:second] + '<pixel count="650">0 41 ' + xml[second + len(marker) :]
    with pytest.raises(GeocolorError, match=r"calib\.xml.*line 674.*own pixel positions"):
        parse_calibration(shifted.encode(), "calib.xml")


def test_malformed_or_incomplete_xml_names_the_source(calibration_xml: bytes) -> None:
    xml = calibration_xml
    with pytest.raises(GeocolorError, match=r"calib\.xml: malformed XML"):
        parse_calibration(xml[: len(xml) // 2], "calib.xml")
    without_gamma = re.sub(rb"<gamma [^>]*>[^<]*</gamma>", b"", xml, count=1)
    with pytest.raises(GeocolorError, match=r"calib\.xml: missing or empty element"):
        parse_calibration(without_gamma, "calib.xml")
    short = re.sub(rb"(<sigmaNought count=\"650\">)[0-9.e+]+ ", rb"\1", xml, count=1)
    with pytest.raises(GeocolorError, match=r"calib\.xml: sigmaNought vectors differ"):
        parse_calibration(short, "calib.xml")
    with pytest.raises(GeocolorError, match=r"calib\.xml: no calibrationVector"):
        parse_calibration(b"<calibration/>", "calib.xml")
