"""The app's logic without Streamlit: settings, scenes, models, AOI, map and results."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from shapely.geometry import Point, box

from geocolor.app.jobs import JobRegistry, Report
from geocolor.app.logic import (
    ModelSummary,
    aoi_from_bbox,
    aoi_from_drawing,
    aoi_geojson,
    check_aoi,
    connect_tracking,
    hide_server_paths,
    list_scenes,
    model_summary,
    registered_models,
)
from geocolor.app.map import Basemap, ResultLayers, build_map, drawn_feature, dynamic_layers
from geocolor.app.results import ResultFiles, make_result, result_key
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
    # optical products beside the radar ones are not offered (they fail as "not a SAFE")
    (tmp_path / "S2B_MSIL2A_X.SAFE").mkdir()
    (tmp_path / "S2A_MSIL2A_Y.zip").write_bytes(b"x")
    names = [Path(path).name for path in list_scenes(str(tmp_path))]
    assert names == ["S1A_X.SAFE", "a.zip", "b.tif", "c.TIFF"]
    with pytest.raises(GeocolorError, match="cannot list scenes"):
        list_scenes(str(tmp_path / "missing"))


def test_server_folders_are_cut_to_file_names() -> None:
    message = (
        "/srv/work/uploads/0a1b/S1A_X.SAFE: bad calibration in "
        "'/srv/work/uploads/0a1b/S1A_X.SAFE/annotation/calibration/c.xml' (see /srv/work)"
    )
    shown = hide_server_paths(message, ["/srv/work", "/data/scenes/"])
    assert shown == "S1A_X.SAFE: bad calibration in 'c.xml' (see a server folder)"
    assert hide_server_paths("/data/scenes/b.tif: unreadable", ["/data/scenes/"]) == (
        "b.tif: unreadable"
    )
    assert "/srv" not in shown


def test_default_tracking_uri_lives_in_the_work_folder(tmp_path: Path) -> None:
    settings = load_settings({"GEOCOLOR_WORKDIR": str(tmp_path)})
    assert settings.tracking_uri == f"sqlite:///{tmp_path}/mlflow.db"
    assert load_settings({"MLFLOW_TRACKING_URI": "http://mine"}).tracking_uri == "http://mine"


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


def test_map_shows_result_tiles_and_links_only_local_assets() -> None:
    layers = ResultLayers("/t/k/colour/{z}/{x}/{y}.png", "/t/k/sar/{z}/{x}/{y}.png",
                          ((45.0, 3.0), (45.1, 3.1)), 0.4, swipe=True)  # fmt: skip
    footprint = box(3.0, 45.0, 3.1, 45.1)
    fmap = build_map(footprint, None)
    base = fmap.get_root().render()
    assert "L.Control.Draw" in base and "tileLayer" not in base  # no base map: plain
    for group in dynamic_layers(fmap, footprint, box(3.01, 45.01, 3.02, 45.02), layers):
        group.add_to(fmap)
    page = fmap.get_root().render()
    assert '"/t/k/colour/{z}/{x}/{y}.png"' in page and '"/t/k/sar/{z}/{x}/{y}.png"' in page
    assert "data:image" not in page and '"opacity": 0.4' in page
    assert "L.control.sideBySide" in page
    links = [src for element in _walk(fmap) for _, src in getattr(element, "default_js", [])]
    links += [href for element in _walk(fmap) for _, href in getattr(element, "default_css", [])]
    assert links and all(link.startswith("/geocolor-static/") for link in links)
    root = Path(__file__).parents[1] / "geocolor" / "app" / "static"
    assert all((root / link.removeprefix("/geocolor-static/")).is_file() for link in links)
    osm = build_map(None, Basemap("https://tiles.example/{z}/{x}/{y}.png", "(c) them"))
    assert '"https://tiles.example/{z}/{x}/{y}.png"' in osm.get_root().render()


def _walk(element: object) -> Iterator[object]:
    yield element
    for child in getattr(element, "_children", {}).values():
        yield from _walk(child)


def test_basemap_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings({}).basemap_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    assert load_settings({"GEOCOLOR_BASEMAP_URL": "none"}).basemap_url is None


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
    with rasterio.open(files.cog) as cog, rasterio.open(files.sar) as sar:
        # the SAR on the colour's grid, masked where the scene has no data
        assert (sar.crs, sar.transform, sar.shape) == (cog.crs, cog.transform, cog.shape)
        assert sar.count == 1 and sar.dtypes[0] == "uint8"
        assert sar.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        grey, valid = sar.read(1), sar.read_masks(1) > 0
        assert 0.5 < valid.mean() < 1 and np.ptp(grey[valid]) > 0
    assert not list(files.folder.glob("*.png"))

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a finished result is colorized again")

    monkeypatch.setattr("geocolor.app.results.colorize", refuse)
    assert make_result(files, scene, model, aoi, config) == (south_west, north_east)


def test_a_cancelled_colorization_leaves_nothing(tmp_path: Path, tracking: str, scene: str) -> None:
    model = load_model("models:/geocolor/1")
    files = ResultFiles(tmp_path / "results" / "key")
    config = ColorizeConfig(tile_size=128, batch_size=1, monitor=False)
    jobs = JobRegistry()

    def work(report: Report) -> None:
        def cancel_at_the_first_tile(done: int, total: int) -> None:
            jobs.get("key").cancel()  # type: ignore[union-attr]
            report(done, total)

        make_result(files, scene, model, None, config, cancel_at_the_first_tile)

    job = jobs.start("key", "scene.tif", work, lambda: shutil.rmtree(files.folder))
    assert job.wait(60)
    assert job.status.state == "cancelled" and job.status.done == 0
    assert list((tmp_path / "results").iterdir()) == []


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
