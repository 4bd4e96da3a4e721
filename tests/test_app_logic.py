"""The app's logic without Streamlit: settings, scenes, models, AOI, map and results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from shapely.geometry import Point, box

from geocolor.app.logic import (
    ModelSummary,
    aoi_from_bbox,
    aoi_from_drawing,
    aoi_geojson,
    check_aoi,
    connect_tracking,
    list_scenes,
    model_summary,
    registered_models,
)
from geocolor.app.map import ResultLayers, build_map, drawn_feature
from geocolor.app.results import ResultFiles, make_result, preview_grid, result_key
from geocolor.app.settings import load_settings
from geocolor.cli.app import app_command, streamlit_command
from geocolor.colorize.pipeline import ColorizeConfig
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.aoi import load_aoi
from geocolor.geo.grid import LONLAT, reproject_geometry
from geocolor.models.logged import load_model
from geocolor.models.model_registry import VersionInfo
from geocolor.s1.source import open_s1
from tests.scene_factory import tiny_registry, write_scene


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tiny_registry(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(write_scene(tmp_path_factory.mktemp("scene") / "scene.tif", nodata_rows=30))


def test_settings_from_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "app.yaml"
    config.write_text("model_name: from-file\nmax_upload_mb: 10\nscenes: /data\n")
    settings = load_settings(
        {
            "GEOCOLOR_APP_CONFIG": str(config),
            "MLFLOW_TRACKING_URI": "http://fallback",
            "GEOCOLOR_MAX_UPLOAD_MB": "20",
            "GEOCOLOR_WORKDIR": str(tmp_path),
        }
    )
    assert settings.model_name == "from-file" and settings.scenes == "/data"
    assert settings.max_upload_mb == 20 and settings.model_alias == "prod-candidate"
    assert settings.mlflow_uri == "http://fallback" and settings.results == tmp_path / "results"
    both = {"GEOCOLOR_MLFLOW_URI": "http://mine", "MLFLOW_TRACKING_URI": "http://fallback"}
    assert load_settings(both).mlflow_uri == "http://mine"


def test_bad_settings_name_their_source(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^GEOCOLOR_MAX_UPLOAD_MB: setting 'max_upload_mb'"):
        load_settings({"GEOCOLOR_MAX_UPLOAD_MB": "-1"})
    config = tmp_path / "app.yaml"
    config.write_text("colour: red\n")
    with pytest.raises(UsageError, match=f"^{config}: unknown app setting 'colour'"):
        load_settings({"GEOCOLOR_APP_CONFIG": str(config)})


def test_list_scenes(tmp_path: Path) -> None:
    for name in ("b.tif", "a.zip", "c.TIFF", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "S1A_X.SAFE").mkdir()
    names = [Path(path).name for path in list_scenes(str(tmp_path))]
    assert names == ["S1A_X.SAFE", "a.zip", "b.tif", "c.TIFF"]
    with pytest.raises(GeocolorError, match="cannot list scenes"):
        list_scenes(str(tmp_path / "missing"))


def test_model_summary_shows_the_skill_signed() -> None:
    info = VersionInfo("geocolor", "3", None, ())
    assert ModelSummary(info, "cyclegan", {"val_skill": 1.234}).skill == "+1.23 dB"
    assert ModelSummary(info, "cyclegan", {"val_skill": -0.5}).skill == "-0.50 dB"


def test_model_summary(tracking: str) -> None:
    assert registered_models(tracking) == {"geocolor": {"prod-candidate": "1"}}
    summary = model_summary("geocolor", "prod-candidate", tracking)
    assert summary.uri == "models:/geocolor/1"
    assert summary.backend == "cyclegan" and summary.metrics == {"val_psnr": 12.5}
    assert summary.skill == "n/a"  # a run logged before baselines
    with pytest.raises(GeocolorError, match="no version holds the alias 'production'"):
        model_summary("geocolor", "production", tracking)


def test_unreachable_mlflow_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    connect_tracking("http://127.0.0.1:9")
    try:
        with pytest.raises(GeocolorError, match=r"^MLflow at http://127.0.0.1:9 cannot be"):
            registered_models("http://127.0.0.1:9")
    finally:
        mlflow.set_tracking_uri(None)


def test_aoi_inputs_and_checks(scene: str) -> None:
    footprint = open_s1(scene).footprint()
    west, south, east, north = footprint.bounds
    inside = aoi_from_bbox(f" {west + 0.001}, {south + 0.001},{east - 0.001}, {north - 0.001}")
    assert check_aoi(inside, footprint, scene) is inside
    with pytest.raises(UsageError, match=r"AOI lies outside the scene scene\.tif"):
        check_aoi(box(10, 10, 11, 11), footprint, scene)
    with pytest.raises(UsageError, match="four numbers"):
        aoi_from_bbox("/etc/passwd")
    with pytest.raises(UsageError, match="minx < maxx"):
        aoi_from_bbox("3,45,2,46")
    drawn = {
        "type": "Feature",
        "properties": {},
        "geometry": json.loads(aoi_geojson(inside))["features"][0]["geometry"],
    }
    assert aoi_from_drawing(drawn).equals(inside)
    with pytest.raises(UsageError, match="not a Point"):
        aoi_from_drawing({"type": "Feature", "geometry": {"type": "Point", "coordinates": [3, 45]}})


def test_aoi_geojson_reads_back(tmp_path: Path) -> None:
    aoi = box(3.0, 45.1, 3.02, 45.12)
    path = tmp_path / "aoi.geojson"
    path.write_text(aoi_geojson(aoi))
    assert load_aoi(str(path)).equals(aoi)


def test_drawn_feature_prefers_the_last_active_drawing() -> None:
    first, second = {"geometry": 1}, {"geometry": 2}
    assert drawn_feature({"last_active_drawing": second, "all_drawings": [first]}) == second
    assert drawn_feature({"last_active_drawing": None, "all_drawings": [first]}) == first
    assert drawn_feature(None) is None and drawn_feature({"all_drawings": None}) is None


def test_map_fetches_result_images_by_url() -> None:
    layers = ResultLayers("/r/k/colour.png", "/r/k/sar.png", ((45.0, 3.0), (45.1, 3.1)), 0.4)
    html = build_map(box(3.0, 45.0, 3.1, 45.1), box(3.01, 45.01, 3.02, 45.02), layers)
    page = html.get_root().render()
    assert '"/r/k/colour.png"' in page and '"/r/k/sar.png"' in page
    assert "data:image" not in page
    assert "L.Control.Draw" in page and '"opacity": 0.4' in page


def test_make_result_renders_and_reuses(
    tmp_path: Path, tracking: str, scene: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load_model("models:/geocolor/1")
    footprint = open_s1(scene).footprint()
    west, south, east, north = footprint.bounds
    aoi = box(west - 0.01, south + 0.002, east - 0.01, north + 0.01)
    config = ColorizeConfig(tile_size=128)
    key = result_key(scene, "models:/geocolor/1", aoi, config)
    assert key != result_key(scene, "models:/geocolor/2", aoi, config)
    files = ResultFiles(tmp_path / key)
    calls: list[tuple[int, int]] = []
    (south_west, north_east) = make_result(
        files, scene, model, aoi, config, lambda done, total: calls.append((done, total))
    )
    assert calls[-1][0] == calls[-1][1] > 1

    with rasterio.open(files.cog) as cog:
        assert cog.crs == "EPSG:32631" and cog.count == 3
        outline = reproject_geometry(box(*cog.bounds), cog.crs, LONLAT)
    shown = box(south_west[1], south_west[0], north_east[1], north_east[0])
    assert shown.buffer(1e-6).contains(outline)
    grid = preview_grid(files.cog)
    for png in (files.colour, files.sar):
        with rasterio.open(png) as src:
            rgba = src.read()
        assert rgba.shape == (4, grid.height, grid.width) and max(rgba.shape) <= 1024
        opaque = rgba[3] > 0
        assert 0.5 < opaque.mean() < 0.95  # the rows without data are transparent
        assert np.ptp(rgba[0][opaque]) > 0

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished result is colorized again")

    monkeypatch.setattr("geocolor.app.results.colorize", refuse)
    assert make_result(files, scene, model, aoi, config) == (south_west, north_east)


def test_make_result_outside_the_scene_is_refused(
    tmp_path: Path, tracking: str, scene: str
) -> None:
    model = load_model("models:/geocolor/1")
    files = ResultFiles(tmp_path / "k")
    with pytest.raises(UsageError, match="outside the scene"):
        make_result(files, scene, model, Point(10, 10).buffer(0.01), ColorizeConfig())
    assert not files.overlay.exists()


def test_app_command_runs_streamlit_on_the_server_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    command = streamlit_command(8600, "127.0.0.1", 5)
    assert command[1:4] == ["-m", "streamlit", "run"] and command[4].endswith("app/server.py")
    assert Path(command[4]).is_file()
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.port"] == "8600" and options["--server.address"] == "127.0.0.1"
    assert options["--server.maxUploadSize"] == "5" and options["--server.headless"] == "true"

    ran: list[tuple[list[str], dict[str, str]]] = []

    class Finished:
        def __init__(self, command: list[str], env: dict[str, str]) -> None:
            ran.append((command, env))

        def wait(self) -> int:
            return 0

        def poll(self) -> int:
            return 0

    monkeypatch.setattr("geocolor.cli.app.subprocess.Popen", Finished)
    config = tmp_path / "app.yaml"
    config.write_text(f"workdir: {tmp_path / 'work'}\nmax_upload_mb: 7\n")
    monkeypatch.delenv("GEOCOLOR_MAX_UPLOAD_MB", raising=False)
    monkeypatch.delenv("GEOCOLOR_WORKDIR", raising=False)
    result = CliRunner().invoke(app_command, ["--port", "8601", "--config", str(config)])
    assert result.exit_code == 0, result.output
    command, env = ran[0]
    assert env["GEOCOLOR_APP_CONFIG"] == str(config.resolve())
    assert "8601" in command and "7" in command and (tmp_path / "work" / "results").is_dir()
    config.write_text("max_upload_mb: lots\n")
    result = CliRunner().invoke(app_command, ["--config", str(config)])
    assert isinstance(result.exception, UsageError) and len(ran) == 1
