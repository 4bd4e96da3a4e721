from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from sentinelhub.exceptions import SHRateLimitWarning

from geocolor.acquire.fetch import request_windows
from geocolor.cli import main
from geocolor.colorize.readers import scene_reader
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.progress import set_quiet
from geocolor.s1.backscatter import S1Config
from geocolor.s1.conventions import applied_processing, recorded_processing
from geocolor.s1.source import open_s1
from geocolor.s2.product import open_s2
from tests.sentinelhub_server import (
    AOI,
    PROCESS,
    SERVICE_OPTIONS,
    FakeSentinelHub,
    running,
    scene_features,
    use_server,
)

S1_NAME = "S1_20221004T165000.tif"
S2_NAME = "S2_20221005T100031"
WIDTH, HEIGHT = 79, 112  # the AOI's grid at 10 m


@pytest.fixture(autouse=True)
def restore_progress() -> Iterator[None]:
    yield
    set_quiet(False)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeSentinelHub]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "default-cache"))
    with running(FakeSentinelHub(features=scene_features())) as state:
        use_server(monkeypatch, state)
        yield state


def fetch(tmp_path: Path, output: str, *options: str) -> int:
    args = ["-q", "fetch", "--aoi", AOI, "--start", "2022-10-01", "--end", "2022-10-06"]
    return main([*args, *SERVICE_OPTIONS, "-o", str(tmp_path / output), *options])


def read(path: Path) -> tuple[np.ndarray, dict[str, str], tuple[str | None, ...], Affine]:
    with rasterio.open(path) as dataset:
        return dataset.read(), dataset.tags(), dataset.descriptions, dataset.transform


@pytest.mark.parametrize(("height", "width", "limit"), [(112, 79, 40), (7, 5, 1), (10, 10, 10)])
def test_windows_tile_the_grid_within_the_limit(height: int, width: int, limit: int) -> None:
    grid = Grid(CRS.from_epsg(32633), Affine(10, 0, 0, 0, -10, 0), width, height)
    windows = request_windows(grid, limit)
    hits = np.zeros((height, width), dtype=int)
    for window in windows:
        assert 0 < window.width <= limit and 0 < window.height <= limit
        hits[window.toslices()] += 1
    assert (hits == 1).all()


def test_split_requests_mosaic_to_the_whole_image(
    tmp_path: Path, server: FakeSentinelHub, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = ["--cache", str(tmp_path / "cache")]
    assert fetch(tmp_path, "whole", *cache) == 0
    whole_requests = len(server.process_payloads)
    assert fetch(tmp_path, "split", *cache, "--max-request-pixels", "40") == 0
    # 2 x 3 windows per acquisition, two acquisitions
    assert len(server.process_payloads) - whole_requests == 2 * 6
    assert capsys.readouterr().out.split() == [
        str(tmp_path / "whole" / S1_NAME),
        str(tmp_path / "whole" / S2_NAME),
        str(tmp_path / "split" / S1_NAME),
        str(tmp_path / "split" / S2_NAME),
    ]
    whole, _, _, transform = read(tmp_path / "whole" / S1_NAME)
    split, split_tags, _, split_transform = read(tmp_path / "split" / S1_NAME)
    assert whole.shape == (2, HEIGHT, WIDTH) and transform == split_transform
    np.testing.assert_array_equal(whole, split)
    assert json.loads(split_tags["request"])["requests"] == 6
    for band in ("B02", "SCL"):
        name = f"{S2_NAME}/{S2_NAME}_{band}.tif"
        np.testing.assert_array_equal(
            read(tmp_path / "whole" / name)[0], read(tmp_path / "split" / name)[0]
        )


def test_sentinel1_output_is_backscatter_in_db_with_nan_nodata(
    tmp_path: Path, server: FakeSentinelHub
) -> None:
    server.swath_east = 500_400.0  # data ends 40 pixels into the grid (x0 = 500000)
    assert fetch(tmp_path, "db", "--mission", "s1") == 0
    rtc = ("--linear", "--backscatter", "gamma0-rtc")
    assert fetch(tmp_path, "linear", "--mission", "s1", *rtc) == 0
    db, tags, descriptions, _ = read(tmp_path / "db" / S1_NAME)
    linear, _, linear_descriptions, _ = read(tmp_path / "linear" / S1_NAME)
    assert db.dtype == np.float32
    assert descriptions == ("VV sigma0 dB", "VH sigma0 dB")
    assert linear_descriptions == ("VV gamma0-rtc linear", "VH gamma0-rtc linear")
    assert np.isnan(db[:, :, 40:]).all() and not np.isnan(db[:, :, :40]).any()
    np.testing.assert_allclose(db[:, :, :40], 10 * np.log10(linear[:, :, :40]), atol=1e-4)
    assert np.nanmin(linear) >= 0.01 and np.nanmax(linear) < 0.11
    with rasterio.open(tmp_path / "db" / S1_NAME) as dataset:
        assert np.isnan(dataset.nodata) and dataset.crs == CRS.from_epsg(32633)
    assert tags["input_products"] == "S1A_ASC_SOUTH,S1A_ASC_NORTH"
    assert tags["polarisations"] == "VV,VH"
    # what prepare records and colorize reads (geocolor.s1.conventions)
    assert json.loads(tags["processing"]) == {
        "measure": "sigma0",
        "db": True,
        "speckle": "none",
        "window": None,
    }
    request = json.loads(tags["request"])
    assert request["input"]["type"] == "sentinel-1-grd"
    assert request["input"]["processing"]["backCoeff"] == "SIGMA0_ELLIPSOID"
    assert request["input"]["dataFilter"]["orbitDirection"] == "ASCENDING"
    first = server.process_payloads[0]["input"]["data"][0]
    last = server.process_payloads[-1]["input"]["data"][0]
    assert first["processing"]["orthorectify"] is True
    assert last["processing"]["backCoeff"] == "GAMMA0_TERRAIN"


def test_fetched_gamma0_rtc_agrees_with_a_gamma0_rtc_model_and_ellipsoid_gamma0_does_not(
    tmp_path: Path, server: FakeSentinelHub
) -> None:
    assert fetch(tmp_path, "rtc", "--mission", "s1", "--backscatter", "gamma0-rtc") == 0
    assert fetch(tmp_path, "ellipsoid", "--mission", "s1", "--backscatter", "gamma0") == 0
    ellipsoid = server.process_payloads[-1]["input"]["data"][0]["processing"]
    assert ellipsoid["backCoeff"] == "GAMMA0_ELLIPSOID"
    rtc, ellipsoid_gamma0 = str(tmp_path / "rtc" / S1_NAME), str(tmp_path / "ellipsoid" / S1_NAME)
    # what prepare records of the fetched raster is what the model carries to colorize
    source = open_s1(rtc)
    trained = applied_processing(source, S1Config(measure="gamma0-rtc", speckle="none"))
    assert recorded_processing(source) == {
        "measure": "gamma0-rtc",
        "db": True,
        "speckle": "none",
        "window": None,
    }
    bands = ("VV gamma0-rtc dB", "VH gamma0-rtc dB")
    with scene_reader(rtc, bands, trained, beside=rtc) as reader:
        fed = reader.read(0, 0, *reader.grid.shape)
    np.testing.assert_array_equal(fed, read(tmp_path / "rtc" / S1_NAME)[0])
    refused = r"holds gamma0 backscatter, .* trained on gamma0-rtc"
    with (
        pytest.raises(GeocolorError, match=refused),
        scene_reader(ellipsoid_gamma0, bands, trained, beside=ellipsoid_gamma0),
    ):
        pass


def test_sentinel2_output_is_a_band_folder_open_s2_reads(
    tmp_path: Path, server: FakeSentinelHub
) -> None:
    assert fetch(tmp_path, "out", "--mission", "S2", "--s2-bands", "B02,B03,B04") == 0
    folder = tmp_path / "out" / S2_NAME
    assert sorted(path.name for path in folder.iterdir()) == [
        f"{S2_NAME}_{band}.tif" for band in ("B02", "B03", "B04", "SCL")
    ]
    product = open_s2(folder)
    assert product.bands_available(10) == ["B02", "B03", "B04"]
    assert product.info.sensing_time is not None
    assert product.info.sensing_time.isoformat() == "2022-10-05T10:00:31+00:00"
    dn, tags, _, _ = read(folder / f"{S2_NAME}_B04.tif")
    reflectance = product.read_reflectance(["B04"], 10).values
    np.testing.assert_allclose(reflectance, dn / 10000.0, rtol=1e-6)
    assert tags["input_products"] == "S2A_CLEAR" and tags["BOA_ADD_OFFSET"] == "0"
    scl, _, _, _ = read(folder / f"{S2_NAME}_SCL.tif")
    assert scl.dtype == np.uint8 and set(np.unique(scl)) == {4, 9}


def test_throttling_and_server_errors_are_retried(tmp_path: Path, server: FakeSentinelHub) -> None:
    server.failures = [429, 500]
    with pytest.warns(SHRateLimitWarning):
        assert fetch(tmp_path, "out", "--mission", "S1") == 0
    assert server.requests_to(PROCESS) == [429, 500, 200]
    assert (tmp_path / "out" / S1_NAME).is_file()


def test_persistent_server_errors_fail_in_one_line(
    tmp_path: Path, server: FakeSentinelHub, capsys: pytest.CaptureFixture[str]
) -> None:
    server.failures = [500] * 3
    assert fetch(tmp_path, "out", "--mission", "S1", "--max-attempts", "3") == 1
    err = capsys.readouterr().err
    assert err.startswith("geocolor: error: Sentinel Hub failed the process request")
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "out" / S1_NAME).exists()


def test_interrupted_run_leaves_no_output_and_resumes_from_the_cache(
    tmp_path: Path, server: FakeSentinelHub, capsys: pytest.CaptureFixture[str]
) -> None:
    options = ["--mission", "S1", "--max-request-pixels", "40", "--threads", "1"]
    options += ["--cache", str(tmp_path / "cache")]
    # batches of two requests: the first batch finishes, the second breaks off
    server.failures = [200, 200, 400]
    assert fetch(tmp_path, "out", *options) == 1
    assert "HTTP 400" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []
    assert len(list((tmp_path / "cache").rglob("*.tif"))) == 2
    assert not list((tmp_path / "cache").rglob("*.partial"))
    before = len(server.process_payloads)
    assert fetch(tmp_path, "out", *options) == 0
    assert len(server.process_payloads) - before == 4
    assert fetch(tmp_path, "out", *options) == 0  # complete: nothing fetched again
    assert len(server.process_payloads) - before == 4
    changed = fetch(tmp_path, "out", *options, "--resolution", "20")
    assert changed == 1
    assert "already there from a fetch with other parameters" in capsys.readouterr().err
