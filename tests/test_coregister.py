"""Residual S1/S2 shift: recovered across modalities, masks honoured, applied back."""

from __future__ import annotations

import logging
import threading

import dask.array as da
import numpy as np
import pytest
from scipy import fft, ndimage

from geocolor.prepare.coregister import ShiftEstimate, estimate_shift, estimate_shift_tiled
from geocolor.prepare.shift import apply_shift

# Water, bare soil, forest, crops, urban, grassland. Soil and forest swap order
# between the two sensors (inverted contrast), as do crops and grassland.
REFLECTANCE = np.array([0.04, 0.32, 0.10, 0.22, 0.38, 0.15])
BACKSCATTER_DB = np.array([-22.0, -16.0, -7.0, -12.0, -4.0, -18.0])
SPECKLE_LOOKS = 4.0
PAD = 16
TOLERANCE = 0.2


def land_cover(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Class map of smooth random regions with sharp borders (argmax of smooth fields).

    The fields are white noise low-passed in the Fourier domain: three times faster
    than a spatial Gaussian this wide on a 2048² scene.
    """
    best = np.full(shape, -np.inf, dtype=np.float32)
    cover = np.zeros(shape, dtype=np.intp)
    for label in range(len(REFLECTANCE)):
        spectrum = fft.rfft2(rng.standard_normal(shape, dtype=np.float32))
        field = fft.irfft2(ndimage.fourier_gaussian(spectrum, 12.0, n=shape[1]), s=shape)
        cover[field > best] = label
        np.maximum(best, field, out=best)
    return cover


def scene_pair(seed: int, size: int, shift: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Optical reflectance and S1-like dB of one scene, the SAR content moved by ``shift``.

    Both are blurred by a sensor PSF in linear units; the SAR is shifted with a
    quintic spline on a padded image before cropping, then speckled (gamma, 4 looks).
    """
    rng = np.random.default_rng(seed)
    padded = (size + 2 * PAD, size + 2 * PAD)
    cover = land_cover(rng, padded)
    texture = ndimage.gaussian_filter(rng.standard_normal(padded, dtype=np.float32), 3.0)
    optical = ndimage.gaussian_filter(REFLECTANCE[cover] * (1 + 0.15 * texture), 0.7)
    backscatter = ndimage.gaussian_filter(10 ** ((BACKSCATTER_DB[cover] + 1.5 * texture) / 10), 0.7)
    backscatter = ndimage.shift(backscatter, shift, order=5, mode="nearest")
    crop = (slice(PAD, PAD + size), slice(PAD, PAD + size))
    optical = optical[crop] + rng.normal(0.0, 0.005, (size, size))
    speckle = rng.gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, (size, size))
    sar_db = 10 * np.log10(np.clip(backscatter[crop], 1e-6, None) * speckle)
    return optical, sar_db


def blobs(seed: int, size: int) -> np.ndarray:
    """About 16 % of the image in irregular blobs tens of pixels across (clouds, holes)."""
    field = ndimage.gaussian_filter(np.random.default_rng(seed).standard_normal((size, size)), 8)
    return field > field.std()


def error(estimate: ShiftEstimate, shift: tuple[float, float]) -> float:
    """Distance between the estimate and the shift that undoes ``shift``."""
    return float(np.hypot(estimate.dy + shift[0], estimate.dx + shift[1]))


SHIFTS = [(0.3, -1.7), (2.45, 0.6), (-3.2, 4.85), (-0.5, -0.5), (5.1, -2.3), (0.0, 0.0)]


@pytest.fixture(scope="module")
def pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    return [scene_pair(seed, 512, shift) for seed, shift in enumerate(SHIFTS)]


def test_known_shift_is_recovered_across_modalities(pairs) -> None:
    estimates = [estimate_shift(optical, sar) for optical, sar in pairs]
    errors = [error(estimate, shift) for estimate, shift in zip(estimates, SHIFTS, strict=True)]
    assert max(errors) < TOLERANCE, errors
    assert all(estimate.reliable for estimate in estimates)


def test_sign_convention_content_moved_down_right_gives_negative_shift() -> None:
    rng = np.random.default_rng(3)
    reference = ndimage.gaussian_filter(rng.standard_normal((256, 256)), 2.0)
    moving = np.full_like(reference, np.nan)
    moving[1:, 1:] = reference[:-1, :-1]
    estimate = estimate_shift(reference, moving)
    assert estimate.dy == pytest.approx(-1.0, abs=0.05)
    assert estimate.dx == pytest.approx(-1.0, abs=0.05)
    assert apply_shift(moving, estimate.dy, estimate.dx)[100, 100] == pytest.approx(
        reference[100, 100], abs=0.05 * np.abs(reference).max()
    )


def test_applying_the_estimate_realigns(pairs) -> None:
    (optical, sar), shift = pairs[1], SHIFTS[1]
    estimate = estimate_shift(optical, sar)
    residual = estimate_shift(optical, apply_shift(sar, estimate.dy, estimate.dx))
    assert np.hypot(residual.dy, residual.dx) <= 0.1
    assert error(estimate, shift) < TOLERANCE


def test_shared_holes_and_masked_clouds_do_not_pull_towards_zero(pairs) -> None:
    """Holes at the same place in both images would favour zero shift if not masked."""
    for index in (1, 4):
        (optical, sar), shift = pairs[index], SHIFTS[index]
        holes, clouds = blobs(10 + index, 512), blobs(20 + index, 512)
        cloudy = np.where(clouds | holes, 0.9, optical)
        estimate = estimate_shift(
            cloudy,
            np.where(holes, np.nan, sar),
            reference_mask=~(clouds | holes),
            moving_mask=~clouds,
        )
        assert error(estimate, shift) < TOLERANCE
        assert estimate.reliable
        unmasked = estimate_shift(cloudy, np.where(clouds | holes, 5.0, sar))
        assert error(unmasked, shift) > 2 * TOLERANCE, "the masks were not needed"


def test_featureless_pairs_are_unreliable() -> None:
    rng = np.random.default_rng(4)
    constant = estimate_shift(np.full((256, 256), 0.2), np.full((256, 256), -12.0))
    assert not constant.reliable
    assert constant.quality == 0.0
    for _ in range(5):
        noise = estimate_shift(*rng.standard_normal((2, 256, 256)))
        assert not noise.reliable
    flat = 10 * np.log10(rng.gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, (256, 256)))
    assert not estimate_shift(np.full((256, 256), 0.2), flat).reliable


def test_shift_beyond_the_search_window_is_unreliable() -> None:
    optical, sar = scene_pair(7, 256, (6.0, 0.0))
    assert estimate_shift(optical, sar, max_shift=8).reliable
    assert not estimate_shift(optical, sar, max_shift=3).reliable


def test_estimate_is_logged_at_info(caplog) -> None:
    optical, sar = scene_pair(8, 128, (1.0, 0.0))
    with caplog.at_level(logging.INFO, logger="geocolor.prepare.coregister"):
        estimate_shift(optical, sar)
    assert any("residual shift" in record.getMessage() for record in caplog.records)


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one shape"):
        estimate_shift(np.zeros((64, 64)), np.zeros((64, 65)))


@pytest.fixture(scope="module")
def large_pair() -> tuple[np.ndarray, np.ndarray]:
    """2048² pair with the SAR's top-left quarter outside the swath (NaN)."""
    optical, sar = scene_pair(9, 2048, (-1.35, 2.6))
    sar[:1024, :1024] = np.nan
    return optical, sar


def test_tiled_estimate_matches_the_global_shift(large_pair) -> None:
    estimate = estimate_shift_tiled(*large_pair, tile=512, max_tiles=6)
    assert error(estimate, (-1.35, 2.6)) < TOLERANCE
    assert estimate.reliable
    assert estimate.tiles >= 4


def test_tiled_estimate_computes_only_the_tiles_it_reads(large_pair) -> None:
    touched: set[tuple[int, tuple[int, ...]]] = set()
    lock = threading.Lock()

    def watched(index: int, image: np.ndarray) -> da.Array:
        def record(block: np.ndarray, block_info: dict) -> np.ndarray:
            with lock:
                touched.add((index, tuple(block_info[0]["chunk-location"])))
            return block

        lazy = da.from_array(image, chunks=512)
        return lazy.map_blocks(record, dtype=image.dtype, meta=np.array((), image.dtype))

    lazy_estimate = estimate_shift_tiled(
        watched(0, large_pair[0]), watched(1, large_pair[1]), tile=512, max_tiles=4
    )
    eager_estimate = estimate_shift_tiled(*large_pair, tile=512, max_tiles=4)
    assert lazy_estimate == eager_estimate
    assert error(lazy_estimate, (-1.35, 2.6)) < TOLERANCE
    for index in (0, 1):
        blocks = {block for image, block in touched if image == index}
        assert len(blocks) == 8, "two candidate tiles read per tile estimated, of 16"


def test_tiled_estimate_prefers_textured_tiles_among_those_read(caplog) -> None:
    optical, sar = scene_pair(11, 1024, (0.8, -0.4))
    rng = np.random.default_rng(12)
    optical[:, :512] = rng.normal(0.2, 0.005, (1024, 512))
    sar[:, :512] = 10 * np.log10(rng.gamma(SPECKLE_LOOKS, 1 / SPECKLE_LOOKS, (1024, 512))) - 12
    with caplog.at_level(logging.DEBUG, logger="geocolor.prepare.coregister"):
        estimate = estimate_shift_tiled(optical, sar, tile=256, max_tiles=2)
    used = [record.args[0] for record in caplog.records if record.getMessage().startswith("tile")]
    assert len(used) == 2
    assert all(column >= 512 for _, column in used), f"a featureless tile was used: {used}"
    assert error(estimate, (0.8, -0.4)) < TOLERANCE


def test_featureless_scene_gives_an_unreliable_tiled_estimate() -> None:
    rng = np.random.default_rng(5)
    estimate = estimate_shift_tiled(*rng.standard_normal((2, 512, 512)), tile=256, max_tiles=2)
    assert not estimate.reliable
    assert estimate.tiles == 0


def test_apply_shift_samples_upstream_and_blanks_the_uncovered_edge() -> None:
    rows, cols = np.mgrid[0:40, 0:30].astype(np.float64)
    ramp = 3 * rows + 0.5 * cols
    shifted = apply_shift(ramp, 0.3, -1.7)
    covered = np.isfinite(shifted)
    assert not covered[0].any(), "row 0 samples row -0.3, outside the image"
    assert not covered[:, -2:].any(), "the last two columns sample past the right edge"
    assert covered[1:, :-2].all()
    expected = 3 * (rows - 0.3) + 0.5 * (cols + 1.7)
    np.testing.assert_allclose(shifted[covered], expected[covered], rtol=1e-12)
    np.testing.assert_array_equal(apply_shift(ramp, 2, 0)[2:], ramp[:-2])


def test_apply_shift_keeps_nan_within_its_bilinear_support() -> None:
    image = np.ones((20, 20), dtype=np.float32)
    image[10, 10] = np.nan
    fractional = apply_shift(image, 0.5, 0.25)
    assert fractional.dtype == np.float32
    inside = np.zeros((20, 20), dtype=bool)
    inside[1:, 1:] = True
    assert set(zip(*np.nonzero(np.isnan(fractional) & inside), strict=True)) == {
        (10, 10),
        (10, 11),
        (11, 10),
        (11, 11),
    }
    whole_columns = apply_shift(image, 0.5, 2.0)
    assert set(zip(*np.nonzero(np.isnan(whole_columns[1:, 2:])), strict=True)) == {
        (9, 10),
        (10, 10),
    }


def test_apply_shift_on_dask_stays_lazy_and_matches_numpy() -> None:
    image = np.random.default_rng(6).standard_normal((200, 150))
    image[50:60, 70:75] = np.nan
    lazy = apply_shift(da.from_array(image, chunks=64), 2.3, -3.6)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), apply_shift(image, 2.3, -3.6), equal_nan=True)
    integers = da.from_array(np.arange(100, dtype=np.int16).reshape(10, 10), chunks=4)
    np.testing.assert_array_equal(
        apply_shift(integers, 1, 0).compute()[1:], np.arange(90).reshape(9, 10)
    )
