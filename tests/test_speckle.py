from __future__ import annotations

import warnings
from typing import Any

import dask.array as da
import numpy as np
import numpy.typing as npt
import pytest

from geocolor.errors import GeocolorError
from geocolor.plugins.manager import get_plugins, load_plugins
from geocolor.plugins.registry import Registry
from geocolor.s1.speckle import SpeckleParams, filter_speckle
from geocolor_speckle.gamma_speckle import sigma_range
from geocolor_speckle.lee import lee

FILTERS = ["boxcar", "frost", "gamma-map", "lee", "lee-sigma", "median", "refined-lee"]
EDGE_PRESERVING = ["lee", "refined-lee", "lee-sigma"]
MEAN = 0.1


@pytest.fixture(scope="module")
def registry() -> Registry[Any]:
    return load_plugins(autoload=False).speckle_filters


def speckled(scene: npt.NDArray[np.float32], looks: float, seed: int) -> npt.NDArray[np.float32]:
    """``scene`` times unit-mean L-look speckle (gamma-distributed intensity)."""
    rng = np.random.default_rng(seed)
    return (scene * rng.gamma(looks, 1.0 / looks, scene.shape)).astype(np.float32)


def run(
    image: npt.NDArray[np.float32],
    name: str,
    registry: Registry[Any],
    params: SpeckleParams | None = None,
    chunks: Any = -1,
) -> npt.NDArray[np.float32]:
    return np.asarray(
        filter_speckle(da.from_array(image, chunks=chunks), name, params, registry).compute()
    )


def with_holes(seed: int, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    image = speckled(np.full(shape, MEAN, dtype=np.float32), 1.0, seed)
    image[..., 10:14, 20:25] = np.nan
    image[..., -5, 7] = np.nan
    image[..., 0, 3] = np.nan
    return image


def test_builtin_filters_register_through_the_entry_point(registry: Registry[Any]) -> None:
    assert registry.names() == FILTERS
    assert {entry.plugin for entry in registry.entries()} == {"speckle"}


def test_unknown_filter_is_an_error_listing_the_known_ones(registry: Registry[Any]) -> None:
    image = da.zeros((8, 8), dtype=np.float32)
    with pytest.raises(GeocolorError, match="unknown speckle filter 'kuan'") as caught:
        filter_speckle(image, "kuan", registry=registry)
    assert all(name in str(caught.value) for name in FILTERS)


def test_none_returns_the_input_and_default_registry_is_the_plugins() -> None:
    image = da.ones((9, 9), dtype=np.float32, chunks=4)
    assert filter_speckle(image, "none") is image
    get_plugins.cache_clear()
    filtered = filter_speckle(image, "boxcar").compute()
    np.testing.assert_array_equal(filtered, np.ones((9, 9), dtype=np.float32))


@pytest.mark.parametrize(
    ("settings", "culprit"),
    [
        ({"window": 4}, "window"),
        ({"window": 1}, "window"),
        ({"window": 7.0}, "window"),
        ({"window": True}, "window"),
        ({"looks": 0}, "looks"),
        ({"looks": -2.0}, "looks"),
        ({"looks": float("nan")}, "looks"),
        ({"damping": -1.0}, "damping"),
        ({"sigma": 0.95}, "sigma"),
        ({"target_window": 2}, "target_window"),
        ({"window": 5, "target_window": 7}, "target_window"),
    ],
)
def test_bad_parameters_are_errors(settings: dict[str, Any], culprit: str) -> None:
    with pytest.raises(GeocolorError, match=f"speckle parameter {culprit}="):
        SpeckleParams(**settings)


def test_parameters_default_to_snap() -> None:
    assert SpeckleParams() == SpeckleParams(
        window=7, looks=1.0, damping=2.0, sigma=0.9, target_window=3
    )


@pytest.mark.parametrize(
    "params",
    [SpeckleParams(), SpeckleParams(window=9, looks=2.5, target_window=5)],
    ids=["window7", "window9"],
)
@pytest.mark.parametrize("name", FILTERS)
def test_chunked_equals_unchunked(
    name: str, params: SpeckleParams, registry: Registry[Any]
) -> None:
    image = with_holes(seed=1, shape=(61, 53))
    whole = run(image, name, registry, params)
    chunked = run(image, name, registry, params, chunks=(13, 11))
    assert whole.dtype == np.float32 and whole.shape == image.shape
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=0)


@pytest.mark.parametrize("window", [3, 7, 9])
def test_lee_chunked_equals_unchunked_bit_for_bit(window: int, registry: Registry[Any]) -> None:
    image = with_holes(seed=8, shape=(61, 53))
    params = SpeckleParams(window=window, looks=4.4)
    whole = run(image, "lee", registry, params)
    for chunks in [(13, 11), (7, 53), (61, 5)]:
        np.testing.assert_array_equal(run(image, "lee", registry, params, chunks=chunks), whole)


def lee_reference(image: npt.NDArray[np.float32], params: SpeckleParams) -> npt.NDArray[np.float64]:
    """Lee's estimate from float64 statistics of every window, taken one by one."""
    half = params.window // 2
    padded = np.pad(image.astype(np.float64), half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, image.shape)
    windows = np.moveaxis(windows.reshape(params.window**2, *image.shape), 0, -1)
    count = np.sum(~np.isnan(windows), axis=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(windows, axis=-1)
        variance = np.where(count > 1, np.nanvar(windows, axis=-1, ddof=1), 0.0)
        variation = np.where(mean > 0, variance / mean**2, 0.0)
        weight = np.where(variation > 0, 1.0 - 1.0 / (params.looks * variation), 0.0)
    return mean + np.maximum(weight, 0.0) * (image - mean)


@pytest.mark.parametrize("params", [SpeckleParams(looks=4.4), SpeckleParams(window=5, looks=1.0)])
def test_lee_equals_window_statistics_taken_one_by_one(params: SpeckleParams) -> None:
    image = with_holes(seed=9, shape=(40, 45))
    image[20:, 30:] *= 20.0  # an edge, where Lee keeps more of each pixel
    filtered = lee(image, params)
    assert filtered.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(filtered), np.isnan(image))
    np.testing.assert_allclose(filtered, lee_reference(image, params), rtol=2e-6)
    strided = np.asfortranarray(image.astype(np.float64))  # any layout and float type
    np.testing.assert_array_equal(lee(strided, params), filtered)


@pytest.mark.parametrize("name", FILTERS)
def test_bands_are_filtered_independently(name: str, registry: Registry[Any]) -> None:
    bands = with_holes(seed=2, shape=(2, 31, 29))
    bands[1] *= 3.0
    stacked = run(bands, name, registry, chunks=(1, 7, 9))
    for band, filtered in zip(bands, stacked, strict=True):
        np.testing.assert_allclose(filtered, run(band, name, registry), rtol=1e-6, atol=0)


@pytest.mark.parametrize("looks", [1.0, 4.0])
@pytest.mark.parametrize("name", FILTERS)
def test_homogeneous_area_keeps_mean_and_loses_speckle(
    name: str, looks: float, registry: Registry[Any]
) -> None:
    params = SpeckleParams(looks=looks)
    image = speckled(np.full((160, 160), MEAN, dtype=np.float32), looks, seed=3)
    halo = params.window // 2
    interior = run(image, name, registry, params, chunks=64)[halo:-halo, halo:-halo]
    speckle_variation = image.std() / image.mean()
    assert speckle_variation == pytest.approx(1.0 / np.sqrt(looks), rel=0.03)
    averaged = 1.0 / np.sqrt(looks * params.window**2)
    variation = interior.std() / interior.mean()
    assert interior.mean() == pytest.approx(MEAN, rel=0.05)
    assert variation < 0.6 * speckle_variation
    assert variation > 0.9 * averaged
    if name == "boxcar":
        assert variation == pytest.approx(averaged, rel=0.1)


def rise_distance(profile: npt.NDArray[np.float32]) -> int:
    """Pixels from where a rising step profile passes 10 % of the step to where it reaches 90 %.

    The step's levels are the profile's own plateaus, so a filter's small bias or the
    sample's speckle does not move the thresholds.
    """
    quarter = len(profile) // 4
    low = profile[:quarter].mean()
    high = profile[-quarter:].mean()
    fraction = (profile - low) / (high - low)
    return int(np.argmax(fraction >= 0.9) - np.argmax(fraction > 0.1))


@pytest.mark.parametrize("looks", [1.0, 4.0])
def test_lee_family_keeps_a_step_edge_sharper_than_boxcar(
    looks: float, registry: Registry[Any]
) -> None:
    scene = np.full((1024, 48), 0.02, dtype=np.float32)
    scene[:, 24:] = 0.2
    image = speckled(scene, looks, seed=4)
    params = SpeckleParams(looks=looks)

    def rise(name: str) -> int:
        filtered = run(image, name, registry, params, chunks=(300, 23))
        return rise_distance(filtered.mean(axis=0))

    boxcar = rise("boxcar")
    assert boxcar >= params.window - 2
    for name in EDGE_PRESERVING:
        assert rise(name) < boxcar, name
        if looks >= 4:
            assert rise(name) <= boxcar // 2, name


def test_lee_sigma_keeps_point_targets(registry: Registry[Any]) -> None:
    scene = np.full((40, 40), MEAN, dtype=np.float32)
    scene[18:21, 18:21] = 50 * MEAN
    image = speckled(scene, 4.0, seed=5)
    params = SpeckleParams(looks=4.0)
    kept = run(image, "lee-sigma", registry, params, chunks=19)
    smeared = run(image, "boxcar", registry, params, chunks=19)
    np.testing.assert_array_equal(kept[18:21, 18:21], image[18:21, 18:21])
    assert smeared[19, 19] < 0.5 * image[18:21, 18:21].min()
    assert np.abs(kept[:10] / MEAN - 1).mean() < 0.5 * np.abs(image[:10] / MEAN - 1).mean()


@pytest.mark.parametrize("name", FILTERS)
def test_nodata_stays_put_and_does_not_spread(name: str, registry: Registry[Any]) -> None:
    image = with_holes(seed=6, shape=(61, 53))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filtered = run(image, name, registry, chunks=(17, 19))
    np.testing.assert_array_equal(np.isnan(filtered), np.isnan(image))


@pytest.mark.parametrize("name", FILTERS)
def test_all_nodata_chunks_stay_nodata_without_warnings(name: str, registry: Registry[Any]) -> None:
    image = speckled(np.full((30, 40), MEAN, dtype=np.float32), 1.0, seed=7)
    image[:, :20] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        filtered = run(image, name, registry, chunks=(15, 10))
        empty = run(np.full((12, 12), np.nan, dtype=np.float32), name, registry, chunks=5)
    assert np.isnan(filtered[:, :20]).all()
    assert np.isfinite(filtered[:, 20:]).all()
    assert np.isnan(empty).all()


@pytest.mark.parametrize(
    ("looks", "sigma", "low", "high", "eta"),
    [
        (1, 0.9, 0.084, 3.941, 0.8191),
        (1, 0.5, 0.436, 1.920, 0.4057),
        (2, 0.7, 0.418, 1.972, 0.4062),
        (3, 0.8, 0.419, 1.965, 0.3892),
        (4, 0.9, 0.378, 2.094, 0.3991),
    ],
)
def test_sigma_range_matches_lee_2009_table(
    looks: float, sigma: float, low: float, high: float, eta: float
) -> None:
    derived = sigma_range(looks, sigma)
    assert derived.low == pytest.approx(low, abs=0.001)
    assert derived.high == pytest.approx(high, rel=0.005)
    assert derived.eta == pytest.approx(eta, abs=0.002)
