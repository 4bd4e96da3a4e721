"""Thermal noise LUTs of both XML generations, their window pieces and noise subtraction.

The dense reference is built independently with scipy's ``interp1d`` (each range
vector along pixels, then along lines) and boolean masks for the azimuth blocks. The
library never makes the noise dense; :func:`noise_power` does it here, from the
separable pieces the calibration kernel combines.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from scipy.interpolate import RegularGridInterpolator, interp1d

from geocolor.errors import GeocolorError
from geocolor.s1.calibration import POWER_FLOOR, CalibrationLuts, lut_window
from geocolor.s1.noise import (
    AzimuthNoiseBlock,
    NoiseLuts,
    NoiseWindow,
    RangeNoiseVector,
    noise_window,
    parse_noise,
)
from geocolor.s1.radar_chain import calibrate
from geocolor.s1.safe import open_safe
from tests.test_calibration import expanded

ZIP_2021 = "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip"
ZIP_2015 = "S1A_IW_GRDH_1SDV_20150222T170750_20150222T170815_004739_005DD8_3768.zip"
SHAPE_2021 = (16854, 25931)
SHAPE_2015 = (16685, 25368)
CHUNK = 777

# (row0, col0, height, width) across the IW1/IW2 block border (8742 | 8743) and the
# IW3 azimuth step (lines 63 | 64), across the IW2/IW3 border (17561 | 17562), across
# range vector line 674 and chunk border 777, ending one line past vector line 674,
# and at the last vectors (16850, 16853).
WINDOWS_2021 = [
    (0, 8680, 130, 130),
    (0, 17500, 130, 120),
    (640, 5000, 160, 100),
    (600, 12000, 76, 90),
    (16780, 25860, 74, 71),
]
WINDOWS_2015 = [(0, 0, 50, 60), (640, 8680, 160, 130), (16600, 25300, 85, 68)]


def noise_xml(zip_path: Path, pol: str) -> bytes:
    with zipfile.ZipFile(zip_path) as archive:
        name = next(n for n in archive.namelist() if f"/noise-s1a-iw-grd-{pol}-" in n)
        return archive.read(name)


def dense_noise(noise: NoiseLuts, window: tuple[int, int, int, int]) -> np.ndarray:
    row0, col0, height, width = window
    rows, cols = np.arange(row0, row0 + height), np.arange(col0, col0 + width)
    along_pixels = np.stack([interp1d(v.pixels, v.values)(cols) for v in noise.range_vectors])
    range_noise = interp1d(noise.lines, along_pixels, axis=0)(rows)
    azimuth = np.ones((height, width))
    for block in noise.azimuth_blocks:
        inside = (
            (rows[:, None] >= block.first_line)
            & (rows[:, None] <= block.last_line)
            & (cols[None, :] >= block.first_sample)
            & (cols[None, :] <= block.last_sample)
        )
        profile = interp1d(
            block.lines,
            block.values,
            bounds_error=False,
            fill_value=(block.values[0], block.values[-1]),
        )(rows)
        azimuth = np.where(inside, profile[:, None], azimuth)
    return range_noise * azimuth


def expanded_noise(window: NoiseWindow) -> np.ndarray:
    """The dense noise: range noise times each column span's azimuth factors."""
    factors = np.repeat(window.factors, np.diff(window.edges), axis=1)
    return expanded(window.range_lut) * factors


def noise_power(noise: NoiseLuts, row0: int, col0: int, shape: tuple[int, int]) -> np.ndarray:
    return expanded_noise(noise_window(noise, row0, col0, shape))


@pytest.fixture
def noise_2021(shared_data: Path) -> NoiseLuts:
    return open_safe(shared_data / "s1" / ZIP_2021).noise("VV")


@pytest.fixture
def luts_2021(shared_data: Path) -> CalibrationLuts:
    return open_safe(shared_data / "s1" / ZIP_2021).calibration("VV")


def test_parse_ipf_3_noise(noise_2021: NoiseLuts) -> None:
    assert len(noise_2021.range_vectors) == 27
    assert noise_2021.lines[[0, 1, -2, -1]].tolist() == [0, 674, 16850, 16853]
    first = noise_2021.range_vectors[0]
    assert len(first.pixels) == len(first.values) == 653
    assert first.values[0] == 2.359446e03
    blocks = noise_2021.azimuth_blocks
    assert [b.swath for b in blocks] == ["IW1", "IW2", "IW3"]
    bounds = [(b.first_line, b.first_sample, b.last_line, b.last_sample) for b in blocks]
    assert bounds == [(0, 0, 16853, 8742), (0, 8743, 16853, 17561), (0, 17562, 16853, 25930)]
    assert blocks[2].lines[6:9].tolist() == [60, 63, 64]
    assert blocks[0].values[0] == 1.011965e00


def test_parse_legacy_noise(shared_data: Path) -> None:
    noise = open_safe(shared_data / "s1" / ZIP_2015).noise("VV")
    assert noise.azimuth_blocks == ()
    assert len(noise.range_vectors) == 27
    assert noise.lines[[0, 1, -1]].tolist() == [0, 667, 16684]
    assert all(len(v.pixels) == 636 and v.pixels[-1] == 25367 for v in noise.range_vectors)
    # This sample's legacy LUT is genuinely all zeros: nothing to subtract.
    assert all(not v.values.any() for v in noise.range_vectors)
    np.testing.assert_array_equal(noise_power(noise, 600, 8000, (100, 100)), 0.0)


@pytest.mark.parametrize("window", WINDOWS_2021)
def test_ipf_3_noise_equals_dense(noise_2021: NoiseLuts, window: tuple[int, ...]) -> None:
    row0, col0, height, width = window
    result = noise_power(noise_2021, row0, col0, (height, width))
    np.testing.assert_allclose(result, dense_noise(noise_2021, window), rtol=1e-12)


def test_azimuth_factor_changes_across_the_block_border(noise_2021: NoiseLuts) -> None:
    power = noise_power(noise_2021, 0, 17500, (130, 120))
    range_only = noise_power(NoiseLuts(noise_2021.range_vectors, ()), 0, 17500, (130, 120))
    factor = power / range_only
    iw2, iw3 = noise_2021.azimuth_blocks[1:]
    np.testing.assert_allclose(factor[:, 61], np.interp(np.arange(130), iw2.lines, iw2.values))
    np.testing.assert_allclose(factor[:, 62], np.interp(np.arange(130), iw3.lines, iw3.values))
    assert factor[64, 62] / factor[63, 62] == pytest.approx(1.114154 / 1.083458)


def legacy_with_synthetic_values(xml: bytes) -> bytes:
    """The real legacy layout with a smooth non-zero profile in place of its zero LUTs."""
    counter = iter(range(1000))

    def profile(match: re.Match[bytes]) -> bytes:
        index = next(counter)
        count = int(match.group(1))
        pixels = np.linspace(0.0, 1.0, count)
        values = 900.0 + 600.0 * np.cos(3.0 * pixels) + 20.0 * index
        return b'<noiseLut count="%d">' % count + " ".join(f"{v:.6e}" for v in values).encode()

    return re.sub(rb'<noiseLut count="(\d+)">[^<]*', profile, xml)


@pytest.mark.parametrize("window", WINDOWS_2015)
def test_legacy_noise_equals_dense(shared_data: Path, window: tuple[int, ...]) -> None:
    xml = legacy_with_synthetic_values(noise_xml(shared_data / "s1" / ZIP_2015, "vv"))
    noise = parse_noise(xml, "noise.xml")
    assert noise.azimuth_blocks == ()
    assert noise.range_vectors[3].values.min() > 0
    row0, col0, height, width = window
    result = noise_power(noise, row0, col0, (height, width))
    np.testing.assert_allclose(result, dense_noise(noise, window), rtol=1e-12)


def small_noise() -> NoiseLuts:
    """Vectors with their own pixel positions; blocks leave columns 10-14 and 26-30 bare."""
    vectors = (
        RangeNoiseVector(0, np.array([0, 7, 15, 30]), np.array([10.0, 20.0, 5.0, 8.0])),
        RangeNoiseVector(10, np.array([0, 5, 20, 30]), np.array([12.0, 4.0, 9.0, 1.0])),
        RangeNoiseVector(20, np.array([0, 12, 30]), np.array([3.0, 30.0, 6.0])),
    )
    blocks = (
        AzimuthNoiseBlock("IW1", 0, 0, 20, 9, np.array([0, 20]), np.array([1.0, 2.0])),
        AzimuthNoiseBlock("IW2", 3, 15, 17, 25, np.array([3, 9, 17]), np.array([0.5, 3.0, 1.5])),
    )
    return NoiseLuts(vectors, blocks)


def test_per_vector_pixels_and_uncovered_columns() -> None:
    noise = small_noise()
    whole = noise_power(noise, 0, 0, (21, 31))
    np.testing.assert_allclose(whole, dense_noise(noise, (0, 0, 21, 31)), rtol=1e-12)
    range_only = noise_power(NoiseLuts(noise.range_vectors, ()), 0, 0, (21, 31))
    np.testing.assert_array_equal(whole[:, 10:15], range_only[:, 10:15])
    np.testing.assert_array_equal(whole[:, 26:], range_only[:, 26:])
    np.testing.assert_array_equal(whole[:3, 15:26], range_only[:3, 15:26])
    np.testing.assert_allclose(whole[9, 15:26], 3.0 * range_only[9, 15:26])
    for row0, col0, height, width in [(0, 0, 7, 9), (5, 8, 11, 19), (13, 24, 8, 7)]:
        window = noise_power(noise, row0, col0, (height, width))
        np.testing.assert_array_equal(window, whole[row0 : row0 + height, col0 : col0 + width])


def test_noise_window_keeps_small_pieces_and_the_swath_spans(noise_2021: NoiseLuts) -> None:
    window = noise_window(noise_2021, 700, 8000, (256, 10000))
    assert window.range_lut.rows.shape == (2, 10000)  # between range vectors 674 and 1348
    assert window.edges.tolist() == [0, 743, 9562, 10000]  # IW1 | IW2 | IW3 at 8743, 17562
    assert window.factors.shape == (256, 3)
    iw1, iw2, iw3 = noise_2021.azimuth_blocks
    for span, block in enumerate((iw1, iw2, iw3)):
        profile = np.interp(np.arange(700, 956), block.lines, block.values)
        np.testing.assert_array_equal(window.factors[:, span], profile)


def test_overlapping_azimuth_blocks_multiply() -> None:
    noise = small_noise()
    overlapping = AzimuthNoiseBlock("IW9", 5, 5, 12, 20, np.array([0, 20]), np.array([2.0, 2.0]))
    both = noise_power(
        NoiseLuts(noise.range_vectors, (*noise.azimuth_blocks, overlapping)), 0, 0, (21, 31)
    )
    alone = noise_power(noise, 0, 0, (21, 31))
    np.testing.assert_allclose(both[5:13, 5:21], 2.0 * alone[5:13, 5:21], rtol=1e-15)
    outside = np.ones((21, 31), dtype=bool)
    outside[5:13, 5:21] = False
    np.testing.assert_array_equal(both[outside], alone[outside])


def dn_at(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """DN of the order of the noise (√N ≈ 30-50), with scattered zeros."""
    return ((rows.astype(np.int64) * 7919 + cols.astype(np.int64) * 104729) % 97).astype(np.uint16)


def dense_sigma0(
    luts: CalibrationLuts, noise: NoiseLuts, window: tuple[int, int, int, int]
) -> np.ndarray:
    row0, col0, height, width = window
    rows, cols = np.ogrid[row0 : row0 + height, col0 : col0 + width]
    dn = dn_at(rows, cols).astype(np.float64)
    gain = RegularGridInterpolator((luts.lines, luts.pixels), luts.sigma0)(
        np.stack(np.broadcast_arrays(rows, cols), axis=-1)
    )
    sigma0 = np.maximum((dn**2 - dense_noise(noise, window)) / gain**2, POWER_FLOOR)
    sigma0[dn == 0] = np.nan
    return sigma0.astype(np.float32)


def test_chunked_denoised_calibration_equals_dense(
    noise_2021: NoiseLuts, luts_2021: CalibrationLuts
) -> None:
    dn = da.fromfunction(dn_at, shape=SHAPE_2021, chunks=CHUNK, dtype=np.uint16)
    sigma0 = calibrate(dn, luts_2021, "sigma0", noise=noise_2021)
    floored = 0
    for row0, col0, height, width in WINDOWS_2021:
        result = sigma0[row0 : row0 + height, col0 : col0 + width].compute()
        expected = dense_sigma0(luts_2021, noise_2021, (row0, col0, height, width))
        np.testing.assert_allclose(result, expected, rtol=2e-6, atol=0.0)
        assert np.array_equal(np.isnan(result), np.isnan(expected))
        floored += int(np.sum(result == np.float32(POWER_FLOOR)))
    assert floored > 100  # the windows do exercise the clamp


def test_kernel_computes_the_dense_formula_bit_for_bit(
    noise_2021: NoiseLuts, luts_2021: CalibrationLuts
) -> None:
    shape, origin = (1500, 2000), (100, 8000)  # chunks of 777 across IW1 | IW2 and line 674
    dn = da.fromfunction(dn_at, shape=shape, chunks=CHUNK, dtype=np.uint16)
    sigma0 = calibrate(dn, luts_2021, "sigma0", noise=noise_2021, origin=origin).compute()
    gain = expanded(lut_window(luts_2021.lines, luts_2021.pixels, luts_2021.sigma0, *origin, shape))
    rows, cols = np.ogrid[: shape[0], : shape[1]]
    values = dn_at(rows, cols).astype(np.float64)
    power = (values * values - noise_power(noise_2021, *origin, shape)) / (gain * gain)
    expected = np.maximum(power, POWER_FLOOR).astype(np.float32)
    expected[values == 0] = np.nan
    np.testing.assert_array_equal(sigma0, expected)
    assert (sigma0 == np.float32(POWER_FLOOR)).any() and (sigma0 > 10 * POWER_FLOOR).any()


def test_subtraction_clamps_to_the_floor(noise_2021: NoiseLuts, luts_2021: CalibrationLuts) -> None:
    dn = np.ones((300, 400), dtype=np.uint16)  # DN² = 1, far below the noise (≥ 900)
    sigma0 = calibrate(da.from_array(dn, chunks=CHUNK), luts_2021, noise=noise_2021).compute()
    assert (sigma0 == np.float32(POWER_FLOOR)).all()


def test_noise_removal_lowers_sigma0_where_dn_is_at_noise_level(
    noise_2021: NoiseLuts, luts_2021: CalibrationLuts
) -> None:
    shape = (700, 9000)
    noise = noise_power(noise_2021, 0, 0, shape)
    dn = np.round(np.sqrt(2.0 * noise)).astype(np.uint16)  # DN² ≈ 2 N
    dn_lazy = da.from_array(dn, chunks=CHUNK)
    raw = calibrate(dn_lazy, luts_2021).compute()
    denoised = calibrate(dn_lazy, luts_2021, noise=noise_2021).compute()
    valid = dn > 20
    assert valid.mean() > 0.99
    assert (denoised[valid] < raw[valid]).all()
    np.testing.assert_allclose(denoised[valid] / raw[valid], 0.5, atol=0.05)


def test_malformed_noise_xml_names_the_source(shared_data: Path) -> None:
    xml = noise_xml(shared_data / "s1" / ZIP_2021, "vh")
    with pytest.raises(GeocolorError, match=r"noise\.xml: malformed XML"):
        parse_noise(xml[:5000], "noise.xml")
    with pytest.raises(GeocolorError, match=r"noise\.xml: no noiseRangeVectorList"):
        parse_noise(b"<noise><adsHeader/></noise>", "noise.xml")
    without_swath = xml.replace(b"<swath>IW2</swath>", b"")
    with pytest.raises(GeocolorError, match=r"noise\.xml: missing or empty element"):
        parse_noise(without_swath, "noise.xml")
    short = re.sub(rb'(<noiseRangeLut count="653">)[0-9.e+-]+ ', rb"\1", xml, count=1)
    with pytest.raises(GeocolorError, match=r"noise\.xml: noise vector at line 0 has 653"):
        parse_noise(short, "noise.xml")
