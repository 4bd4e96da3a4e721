"""Radiometric conventions travel with the data: store -> model -> colorize."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from geocolor.colorize.conventions import check_measure, speckle_to_apply
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.colorize.readers import raster_speckle, scene_reader
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.models.logged import LoadedModel, ModelSpec, load_model
from geocolor.models.normalisation import Normalisation
from geocolor.models.rgb import white_reflectance
from geocolor.plugins.registry import Registry
from geocolor.prepare.store import PAIRS, open_store
from geocolor.s1.backscatter import S1Config
from geocolor.s1.conventions import applied_processing
from geocolor.s1.speckle import SpeckleParams, filter_speckle
from geocolor.s2.product import open_s2
from geocolor.train.loop import train
from geocolor.train.store_data import StoreData
from tests.model_factory import NORMALISATION
from tests.test_colorize import TRANSFORM, UTM, Constant, loaded, read_output
from tests.test_dataset import write_synthetic_store
from tests.test_train import LinearBackend, quick_config, use_fresh_tracking

LEE = {"measure": "sigma0", "db": True, "denoise": True, "speckle": "lee", "window": 5, "looks": 1}


# --- prepare: what a pair records ---------------------------------------------------


def write_band(path: Path, dtype: str, tags: dict[str, str]) -> None:
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": dtype}
    with rasterio.open(path, "w", crs=UTM, transform=TRANSFORM, **profile) as dst:
        dst.write(np.full((1, 8, 8), 1500, dtype=dtype))
        dst.update_tags(**tags)


def test_the_s2_record_follows_the_processing_baseline(tmp_path: Path) -> None:
    for name, offset in (("new", "-1000"), ("old", "0")):
        (tmp_path / name).mkdir()
        for band in ("B02", "B03", "B04"):
            write_band(tmp_path / name / f"{band}.tif", "uint16", {"BOA_ADD_OFFSET": offset})
    assert open_s2(tmp_path / "new").reflectance_convention(["B02", "B04"]) == {
        "level": "L2A",
        "scale": 1e-4,
        "offset": -0.1,
    }
    assert open_s2(tmp_path / "old").reflectance_convention(["B03"])["offset"] == 0.0
    (tmp_path / "mixed").mkdir()
    write_band(tmp_path / "mixed" / "B02.tif", "uint16", {"BOA_ADD_OFFSET": "-1000"})
    write_band(tmp_path / "mixed" / "B03.tif", "float32", {})
    mixed = open_s2(tmp_path / "mixed")
    assert mixed.reflectance_convention(["B03"]) == {"level": "L2A", "scale": 1.0, "offset": 0.0}
    with pytest.raises(GeocolorError, match="scaled differently"):
        mixed.reflectance_convention(["B02", "B03"])


def fake_source(native: bool, processing: dict[str, Any] | None) -> Any:
    info = SimpleNamespace(processing=json.dumps(processing) if processing else None)
    grid = Grid(UTM, TRANSFORM, 8, 8) if native else None
    return SimpleNamespace(info=info, native_grid=lambda: grid)


def test_a_raster_is_recorded_with_the_filtering_it_arrived_with() -> None:
    config = S1Config()  # asks for lee, which prepare never runs on a processed raster
    assert applied_processing(fake_source(False, None), config)["speckle"] == "lee"
    fetched = applied_processing(fake_source(True, {"speckle": "none", "db": True}), config)
    assert fetched["speckle"] == "none" and fetched["denoise"] is None
    assert fetched["measure"] == "sigma0" and fetched["db"] is True
    unknown = applied_processing(fake_source(True, None), config)
    assert unknown["speckle"] is None and unknown["window"] is None


# --- the store's record, checked across pairs, into the model ----------------------


def store_with(path: Path, records: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    for index, (s1, s2) in enumerate(records):
        write_synthetic_store(path, pair_id=f"S1A_{index}__S2A_{index}", seed=index)
        root = open_store(str(path), "a")
        group = root[f"{PAIRS}/S1A_{index}__S2A_{index}"]
        group.attrs["parameters"] = {"resolution": 10, "s1": s1, "s2": s2}
    return str(path)


L2A_NEW = {"level": "L2A", "scale": 1e-4, "offset": -0.1}
L2A_OLD = {"level": "L2A", "scale": 1e-4, "offset": 0.0}


def test_the_store_conventions_are_those_every_pair_shares(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    same = StoreData.open(store_with(tmp_path / "same.zarr", [(LEE, L2A_NEW), (LEE, L2A_NEW)]))
    assert same.optical_conventions == L2A_NEW
    assert same.sar_processing == {**LEE, "resolution": 10}
    baselines = StoreData.open(
        store_with(tmp_path / "baselines.zarr", [(LEE, L2A_NEW), (LEE, L2A_OLD)])
    )
    # both hold surface reflectance; only the products' offsets differed
    assert baselines.optical_conventions == {"level": "L2A", "scale": 1e-4, "offset": None}
    levels = [(LEE, L2A_NEW), ({**LEE, "speckle": "none"}, {**L2A_NEW, "level": "L1C"})]
    with caplog.at_level(logging.WARNING, logger="geocolor"):
        mixed = StoreData.open(store_with(tmp_path / "levels.zarr", levels))
    assert mixed.optical_conventions is None and mixed.sar_processing is None
    assert "different levels" in caplog.text and "different S1 settings" in caplog.text


def test_a_trained_model_carries_its_stores_conventions(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = store_with(tmp_path / "store.zarr", [(LEE, L2A_NEW)])
    use_fresh_tracking(tmp_path, tmp_path_factory, monkeypatch)
    backends: Registry[Any] = Registry("model backend")
    backends.register("linear", LinearBackend())
    result = train(store, quick_config(epochs=1), backends=backends)
    model = load_model(result.model_uri, backends=backends)
    assert model.optical_conventions == L2A_NEW
    assert model.sar_processing == {**LEE, "resolution": 10}


def test_the_model_spec_carries_the_conventions_and_reads_older_specs() -> None:
    spec = ModelSpec("cyclegan", {}, 2, 3, NORMALISATION, LEE, None, L2A_NEW)
    again = ModelSpec.from_json(spec.to_json())
    assert again.optical_conventions == L2A_NEW and again.sar_processing == LEE
    older = json.loads(spec.to_json())
    del older["optical_conventions"], older["sar_processing"]
    legacy = ModelSpec.from_json(json.dumps(older))
    assert legacy.optical_conventions is None and legacy.sar_processing is None


# --- colorize: the input prepared as the training data was -------------------------


def test_speckle_is_added_only_to_a_raster_that_says_it_is_unfiltered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    unfiltered, filtered = {"speckle": "none"}, {"speckle": "lee", "window": 5}
    assert speckle_to_apply(unfiltered, LEE, "s.tif") == "lee"
    assert speckle_to_apply(unfiltered, {**LEE, "speckle": "none"}, "s.tif") is None
    assert speckle_to_apply(filtered, LEE, "s.tif") is None
    assert speckle_to_apply(unfiltered, None, "s.tif") is None  # the model does not say
    with caplog.at_level(logging.WARNING, logger="geocolor"):
        assert speckle_to_apply(None, LEE, "s.tif") is None  # never on a guess
    assert "does not say whether it is speckle-filtered" in caplog.text
    with pytest.raises(GeocolorError, match="trained on unfiltered backscatter"):
        speckle_to_apply(filtered, {**LEE, "speckle": "none"}, "s.tif")


def test_a_grd_goes_through_the_chain_saying_when_the_models_filtering_is_unknown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    product = fake_source(False, None)
    with caplog.at_level(logging.WARNING, logger="geocolor"):
        assert raster_speckle(product, S1Config(), LEE, "x.SAFE") is None
        assert not caplog.text
        assert raster_speckle(product, S1Config(), {**LEE, "speckle": None}, "x.SAFE") is None
    assert "does not say whether its training data was speckle-filtered" in caplog.text


def test_a_grd_is_flattened_for_a_gamma0_rtc_model_only_with_the_dem_it_records() -> None:
    product = fake_source(False, None)
    flattened = S1Config(measure="gamma0-rtc", speckle="none", dem="dem.tif")
    assert raster_speckle(product, flattened, flattened.model_dump(), "x.SAFE") is None
    # trained on rasters flattened elsewhere (fetch, RTC COGs): no DEM to flatten with
    fetched = S1Config(measure="gamma0-rtc", speckle="none")
    with pytest.raises(GeocolorError, match=r"^x.SAFE: .* gamma0-rtc .* records no DEM") as error:
        raster_speckle(product, fetched, fetched.model_dump(), "x.SAFE")
    assert "\n" not in str(error.value)


def test_another_measure_is_refused_naming_both() -> None:
    check_measure(("VV sigma0 dB", "VH sigma0 linear"), "sigma0", "s.tif")
    with pytest.raises(GeocolorError, match=r"s.tif: holds gamma0 .* trained on sigma0"):
        check_measure(("VV gamma0 dB", "VH gamma0 dB"), "sigma0", "s.tif")
    check_measure(("VV gamma0-rtc dB", "VH gamma0-rtc dB"), "gamma0-rtc", "s.tif")
    with pytest.raises(GeocolorError, match=r"holds gamma0-rtc .* trained on gamma0,"):
        check_measure(("VV gamma0-rtc dB",), "gamma0", "s.tif")


def write_raster(path: Path, db: np.ndarray, unit: str, processing: dict[str, Any] | None) -> str:
    profile = {"driver": "GTiff", "width": db.shape[2], "height": db.shape[1], "count": 2}
    data = db if unit == "dB" else 10 ** (db / 10)
    with rasterio.open(
        path, "w", dtype="float32", crs=UTM, transform=TRANSFORM, nodata=np.nan, **profile
    ) as dst:
        dst.write(data.astype(np.float32))
        dst.descriptions = (f"VV sigma0 {unit}", f"VH sigma0 {unit}")
        if processing is not None:
            dst.update_tags(processing=json.dumps(processing))
    return str(path)


def read_scene(path: str, bands: tuple[str, ...], processing: dict[str, Any] | None) -> np.ndarray:
    with scene_reader(path, bands, processing, beside=path) as reader:
        return reader.read(0, 0, *reader.grid.shape)


@pytest.fixture(scope="module")
def backscatter() -> np.ndarray:
    power = np.random.default_rng(3).gamma(1.0, 0.05, size=(2, 48, 40))
    return (10 * np.log10(power)).astype(np.float32)


DB_BANDS = ("VV sigma0 dB", "VH sigma0 dB")


def test_colorize_filters_an_unfiltered_raster_for_a_model_trained_filtered(
    tmp_path: Path, backscatter: np.ndarray
) -> None:
    unfiltered = write_raster(tmp_path / "a.tif", backscatter, "dB", {"speckle": "none"})
    untagged = write_raster(tmp_path / "b.tif", backscatter, "dB", None)
    power = da.from_array(10 ** (backscatter / 10), chunks=(1, 48, 40))
    lee = filter_speckle(power, "lee", SpeckleParams(window=5, looks=1)).compute()
    expected = 10 * np.log10(lee)
    filtered = read_scene(unfiltered, DB_BANDS, LEE)
    np.testing.assert_allclose(filtered, expected, rtol=0, atol=1e-4)
    assert not np.allclose(filtered, backscatter)
    # a model trained unfiltered, or a raster that does not say: used as it is
    as_is = read_scene(unfiltered, DB_BANDS, {**LEE, "speckle": "none"})
    np.testing.assert_array_equal(as_is, backscatter)
    np.testing.assert_array_equal(read_scene(untagged, DB_BANDS, LEE), backscatter)


def test_colorize_converts_units_and_refuses_filtered_input_for_an_unfiltered_model(
    tmp_path: Path, backscatter: np.ndarray
) -> None:
    linear = write_raster(tmp_path / "linear.tif", backscatter, "linear", {"speckle": "lee"})
    np.testing.assert_allclose(read_scene(linear, DB_BANDS, LEE), backscatter, atol=1e-4)
    # a model trained on linear power is fed linear power from a dB raster
    as_db = write_raster(tmp_path / "db.tif", backscatter, "dB", {"speckle": "lee"})
    linear_bands = ("VV sigma0 linear", "VH sigma0 linear")
    fed = read_scene(as_db, linear_bands, {**LEE, "db": False})
    np.testing.assert_allclose(fed, 10 ** (backscatter / 10), rtol=1e-5)
    with pytest.raises(GeocolorError, match="filtering cannot be undone"):
        read_scene(as_db, DB_BANDS, {**LEE, "speckle": "none"})


# --- colorize: rendering follows the model's range, not a fixed one ---------------------


def model_with_range(top: float) -> LoadedModel:
    model = loaded(Constant())
    normalisation = model.normalisation
    model.normalisation = Normalisation(
        normalisation.sar_bands,
        normalisation.sar_low,
        normalisation.sar_high,
        normalisation.optical_bands,
        (0.0,) * 3,
        (0.3 * top, top, top / 4),
    )
    model.optical_conventions = L2A_NEW
    return model


def test_the_white_point_is_the_top_of_the_models_training_range(tmp_path: Path) -> None:
    assert white_reflectance(model_with_range(0.8).normalisation, (0, 1, 2)) == 0.8
    scene = tmp_path / "scene.tif"
    grid = Grid(CRS.from_epsg(32631), TRANSFORM, 40, 32)
    profile = {"driver": "GTiff", "width": grid.width, "height": grid.height, "count": 3}
    with rasterio.open(
        scene, "w", dtype="float32", crs=grid.crs, transform=grid.transform, **profile
    ) as dst:
        dst.write(np.full((3, 32, 40), -10.0, dtype=np.float32))
        dst.descriptions = ("VV sigma0 dB", "VH sigma0 dB", "HH sigma0 dB")
    colorize(str(scene), model_with_range(0.8), str(tmp_path / "out.tif"))
    rgb, mask, meta = read_output(tmp_path / "out.tif")
    # the constant 0.2 output is 60 % of each band's range: 0.144, 0.48, 0.12 of 0.8
    # white; a fixed white at 0.3 would have saturated the green
    levels = [round(0.6 * share * 255) for share in (0.3, 1.0, 0.25)]
    assert [int(band[mask > 0].max()) for band in rgb] == levels
    tags = meta["tags"]
    assert isinstance(tags, dict) and tags["white_reflectance"] == "0.8"
    assert json.loads(tags["optical_conventions"]) == L2A_NEW
    fixed = ColorizeConfig(max_reflectance=1.2)
    colorize(str(scene), model_with_range(0.8), str(tmp_path / "fixed.tif"), config=fixed)
    halved, _, _ = read_output(tmp_path / "fixed.tif")
    assert int(halved[1].max()) == round(0.48 / 1.2 * 255)
