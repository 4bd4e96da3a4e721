"""The Streamlit page under AppTest, with the map component replaced by a stub."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import streamlit as st
from shapely.geometry import Polygon, box, mapping
from streamlit.testing.v1 import AppTest

from geocolor.app import page as app_page
from geocolor.app.drift_badge import DRIFT_WARNING, NO_REFERENCE, badge_html
from geocolor.app.job_panel import WATCHED
from geocolor.app.jobs import JOBS
from geocolor.app.results import make_result
from geocolor.models.drift import DriftReference, SarHistograms
from geocolor.models.drift_facts import SarFacts
from geocolor.s1.source import open_s1
from tests.model_factory import log_tiny_model
from tests.scene_factory import BANDS, tiny_registry, write_scene

TIMEOUT = 60


class FakeMap:
    """Stands in for ``st_folium``: records the maps, returns what the user 'drew'."""

    def __init__(self) -> None:
        self.drawing: dict[str, Any] | None = None
        self.html = ""
        self.base = ""
        self.center: tuple[float, float] | None = None

    def __call__(self, fmap: Any, **kwargs: Any) -> dict[str, Any]:
        self.base = fmap.get_root().render()
        for group in kwargs["feature_group_to_add"]:
            group.add_to(fmap)
        kwargs["layer_control"].add_to(fmap)
        self.html = fmap.get_root().render()
        self.center = kwargs["center"]
        return {"last_active_drawing": self.drawing, "all_drawings": None}

    def draw(self, geometry: Any) -> None:
        self.drawing = {"type": "Feature", "properties": {}, "geometry": mapping(geometry)}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tiny_registry(tmp_path_factory.mktemp("mlflow")) as uri:
        yield uri


@pytest.fixture(scope="module")
def drifting_model(registry: str) -> str:
    """A model whose training input was 17 dB brighter than the test scene: always drift."""
    bright = SarHistograms.empty(BANDS)
    bright.add(np.stack([np.full((8, 8), 5.0), np.full((8, 8), -2.0)]))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(Path(registry.removeprefix("sqlite:///")).parent)  # artifacts: ./mlruns
        log_tiny_model(
            registry, name="drifting", drift_reference=DriftReference(bright, SarFacts())
        )
    return "drifting"


@pytest.fixture
def scenes(tmp_path: Path) -> Path:
    folder = tmp_path / "scenes"
    folder.mkdir()
    write_scene(folder / "scene.tif")
    return folder


@pytest.fixture
def fake_map(
    monkeypatch: pytest.MonkeyPatch, registry: str, scenes: Path, tmp_path: Path
) -> Iterator[FakeMap]:
    monkeypatch.setenv("GEOCOLOR_MLFLOW_URI", registry)
    monkeypatch.setenv("GEOCOLOR_SCENES", str(scenes))
    monkeypatch.setenv("GEOCOLOR_WORKDIR", str(tmp_path / "work"))
    for name in ("GEOCOLOR_APP_CONFIG", "GEOCOLOR_MODEL_NAME", "GEOCOLOR_MODEL_ALIAS"):
        monkeypatch.delenv(name, raising=False)
    fake = FakeMap()
    monkeypatch.setattr("geocolor.app.map.st_folium", fake)
    yield fake
    st.cache_data.clear()
    st.cache_resource.clear()


def _opened() -> AppTest:
    app = AppTest.from_file(app_page.__file__, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def _texts(app: AppTest, kind: str) -> list[str]:
    return [element.value for element in getattr(app, kind)]


def _finish_jobs(app: AppTest) -> None:
    """Wait for the colorizations the session follows, then rerun the page as its poll does."""
    for key in app.session_state[WATCHED]:
        job = JOBS.get(key)
        assert job is not None and job.wait(TIMEOUT)
    app.run()


def test_opens_with_scene_and_model(fake_map: FakeMap, scenes: Path) -> None:
    app = _opened()
    assert app.selectbox[0].value == str(scenes / "scene.tif")
    assert "**Version** 1 · **backend** cyclegan · **skill** n/a" in _texts(app, "markdown")
    assert not app.error
    assert "Scene footprint" in fake_map.html and "L.Control.Draw" in fake_map.html


def test_draw_colorize_and_download(fake_map: FakeMap, scenes: Path, tmp_path: Path) -> None:
    app = _opened()
    west, south, east, north = open_s1(str(scenes / "scene.tif")).footprint().bounds
    fake_map.draw(box(west + 0.002, south + 0.002, east - 0.002, north - 0.002))
    app.run()
    assert not app.exception and not app.error
    assert [button.label for button in app.button] == ["Colorize"]
    assert [button.label for button in app.get("download_button")] == ["Download AOI (GeoJSON)"]

    app.button[0].click().run()
    _finish_jobs(app)
    assert not app.exception and not app.error, (app.exception, _texts(app, "error"))
    results = list((tmp_path / "work" / "results").glob("*/colorized.tif"))
    assert len(results) == 1
    with rasterio.open(results[0]) as cog:
        assert cog.tags()["input"] == "scene.tif"  # the file's name, not the server's folder
    key = results[0].parent.name
    assert f'"/geocolor-tiles/{key}/colour/{{z}}/{{x}}/{{y}}.png"' in fake_map.html
    assert f'"/geocolor-tiles/{key}/sar/{{z}}/{{x}}/{{y}}.png"' in fake_map.html
    assert "/geocolor-tiles/" not in fake_map.base  # the base map stays mounted
    labels = [button.label for button in app.get("download_button")]
    assert labels == ["Download colorized COG", "Download AOI (GeoJSON)"]
    assert not app.button  # done: nothing to colorize again
    # the tiny model carries no drift reference: a grey badge, no warning
    assert [badge for badge in _texts(app, "markdown") if "geocolor-drift" in badge] == [
        badge_html(NO_REFERENCE)
    ]
    assert not app.warning

    app.slider[0].set_value(0.3).run()
    assert '"opacity": 0.3' in fake_map.html and "sideBySide" not in fake_map.html
    app.toggle[0].set_value(True).run()
    assert "L.control.sideBySide" in fake_map.html

    # a new AOI: the old result is no longer shown, nor its slider
    fake_map.draw(box(west + 0.003, south + 0.003, east - 0.003, north - 0.003))
    app.run()
    assert not app.slider and "/geocolor-tiles/" not in fake_map.html
    assert [button.label for button in app.button] == ["Colorize"]


def test_a_drawn_aoi_shows_in_the_bbox_field(fake_map: FakeMap, scenes: Path) -> None:
    app = _opened()
    west, south, east, north = open_s1(str(scenes / "scene.tif")).footprint().bounds
    drawn = Polygon([(west + 0.001, south + 0.001), (east, north), (west + 0.001, north)])
    fake_map.draw(drawn)
    app.run()
    assert app.text_input[0].value == ",".join(f"{value:.5f}" for value in drawn.bounds)
    app.run()  # the field's text is not taken as a new, rectangular AOI
    assert fake_map.center is None and "Colorize" in [b.label for b in app.button]
    assert app.session_state["aoi"].equals(drawn)


def test_a_drifting_scene_shows_a_red_badge_and_a_warning(
    fake_map: FakeMap, drifting_model: str, scenes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GEOCOLOR_MODEL_NAME", drifting_model)
    app = _opened()
    west, south, east, north = open_s1(str(scenes / "scene.tif")).footprint().bounds
    fake_map.draw(box(west + 0.002, south + 0.002, east - 0.002, north - 0.002))
    app.run()
    app.button[0].click().run()
    _finish_jobs(app)
    assert not app.exception and not app.error, (app.exception, _texts(app, "error"))
    [badge] = [text for text in _texts(app, "markdown") if "geocolor-drift" in text]
    assert 'data-verdict="drift"' in badge and "input drift: drift</span>" in badge
    assert 'title="drift: worst band VV sigma0 dB (PSI ' in badge
    [warning] = _texts(app, "warning")
    assert warning.startswith(DRIFT_WARNING) and "worst band VV sigma0 dB" in warning


@pytest.fixture
def gated_jobs(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Colorizations that report 1 of 4 tiles, then wait for the event before working."""
    gate = threading.Event()
    started: list[str] = []

    def gated(*args: Any, **kwargs: Any) -> Any:
        files, progress = args[0], args[5]
        started.append(files.key)
        while not gate.wait(0.02):
            progress(1, 4)
        return make_result(*args, **kwargs)

    monkeypatch.setattr("geocolor.app.job_panel.make_result", gated)
    yield gate
    gate.set()  # no job outlives its test
    for key in started:
        job = JOBS.get(key)
        if job is not None:
            job.cancel()
            job.wait(TIMEOUT)


def _watched(app: AppTest) -> list[str]:
    return list(app.session_state[WATCHED])


def test_changing_the_alias_during_a_job_never_drops_it(
    fake_map: FakeMap,
    registry: str,
    gated_jobs: threading.Event,
    tmp_path: Path,
    scenes: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # the model's artifacts go to ./mlruns
    log_tiny_model(registry, alias="next")  # a second version, so another result
    app = _opened()
    west, south, east, north = open_s1(str(scenes / "scene.tif")).footprint().bounds
    fake_map.draw(box(west + 0.002, south + 0.002, east - 0.002, north - 0.002))
    app.run()
    app.button[0].click().run()
    [first] = _watched(app)
    deadline = time.monotonic() + TIMEOUT
    while JOBS.get(first).status.done != 1 and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    app.run()
    assert [bar.value for bar in app.get("progress")] == [25]
    assert [button.label for button in app.button] == ["Cancel"]
    other = _opened()  # a second browser session asking for the same result joins the job
    other.run()
    assert [button.label for button in other.button] == ["Cancel"]
    assert _watched(other) == [first]

    # another alias: the first job goes on, and says so, beside the new Colorize button
    [alias] = [box_ for box_ in app.selectbox if box_.label == "Alias"]
    alias.set_value("next").run()
    [info] = [text for text in _texts(app, "info") if "background" in text]
    assert info.startswith("The colorization of scene.tif with geocolor v1 goes on")
    assert "1 of 4 tiles" in info
    assert [button.label for button in app.button] == ["Colorize", "Cancel it"]

    app.button[1].click().run()  # cancel the first job from the new settings
    assert JOBS.get(first).wait(TIMEOUT)  # type: ignore[union-attr]
    app.run()
    [warning] = _texts(app, "warning")
    assert warning == (
        "The colorization of scene.tif with geocolor v1 was cancelled after 1 of 4 tiles; "
        "its partial output was removed."
    )
    assert not (tmp_path / "work" / "results" / first).exists()

    # a job left running while the alias changes finishes, and says so
    app.button[0].click().run()
    [second] = [key for key in _watched(app) if key != first]
    [alias] = [box_ for box_ in app.selectbox if box_.label == "Alias"]
    alias.set_value("prod-candidate").run()
    gated_jobs.set()
    assert JOBS.get(second).wait(TIMEOUT)  # type: ignore[union-attr]
    app.run()
    assert (
        "The colorization of scene.tif with geocolor v2 finished; pick its settings to see it."
        in _texts(app, "success")
    )
    assert (tmp_path / "work" / "results" / second / "colorized.tif").is_file()


def test_aoi_outside_the_scene_is_refused(fake_map: FakeMap) -> None:
    app = _opened()
    app.text_input[0].input("10,10,10.1,10.1").run()
    assert _texts(app, "error") == ["the AOI lies outside the scene scene.tif"]
    assert not app.button
    # drawn all the same, and the map pans to it
    assert fake_map.center == pytest.approx((10.05, 10.05))
    assert "[10.1, 10.1]" in fake_map.html
    app.text_input[0].input("10,10").run()
    assert "type four numbers" in _texts(app, "error")[0]


def test_no_model_holding_the_alias(fake_map: FakeMap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCOLOR_MODEL_ALIAS", "production")
    app = _opened()
    assert _texts(app, "error") == ["model 'geocolor': no version holds the alias 'production'"]
    assert app.selectbox[0].value  # the scene picker still works


def test_mlflow_unreachable(fake_map: FakeMap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCOLOR_MLFLOW_URI", "http://127.0.0.1:9")
    app = _opened()
    [error] = _texts(app, "error")
    assert error.startswith("MLflow at http://127.0.0.1:9 cannot be reached")
    assert "Traceback" not in error


def test_bad_upload_is_a_message(fake_map: FakeMap) -> None:
    app = _opened()
    app.radio[0].set_value("Upload").run()
    app.file_uploader[0].upload("scene.zip", b"PK\x03\x04 not really a zip").run()
    assert not app.exception
    [error] = _texts(app, "error")
    assert error.startswith("scene.zip: not a readable zip archive")
    app.file_uploader[0].upload("notes.tif", b"hello").run()
    assert _texts(app, "error") == [
        "notes.tif: neither a GeoTIFF nor a zipped Sentinel-1 SAFE product"
    ]


def test_messages_name_files_not_server_folders(fake_map: FakeMap, scenes: Path) -> None:
    (scenes / "broken.tif").write_bytes(b"II*\x00 not really a tiff")
    app = _opened()
    [scene] = [box_ for box_ in app.selectbox if box_.label == "Scene"]
    scene.set_value(str(scenes / "broken.tif")).run()
    [error] = _texts(app, "error")
    assert error.startswith("broken.tif") and str(scenes) not in error


def test_upload_cap_is_shown_in_mib(fake_map: FakeMap) -> None:
    app = _opened()
    app.radio[0].set_value("Upload").run()
    assert app.file_uploader[0].label.endswith("(up to 2048 MiB)")
    assert "Uploads larger than 2048 MiB are refused." in _texts(app, "caption")


def test_an_empty_registry_is_explained_in_the_main_area(
    fake_map: FakeMap, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("GEOCOLOR_MLFLOW_URI", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    start = tmp_path / "started-here"
    start.mkdir()
    monkeypatch.chdir(start)
    app = _opened()
    database = tmp_path / "work" / "mlflow.db"
    [warning] = [element.value for element in app.main.warning]
    assert warning.startswith(f"No model is registered in MLflow at sqlite:///{database} yet")
    assert database.is_file() and not list(start.iterdir())  # no mlflow.db where it started
    assert not app.button


def test_identical_uploads_are_kept_once(fake_map: FakeMap, scenes: Path, tmp_path: Path) -> None:
    app = _opened()
    app.radio[0].set_value("Upload").run()
    scene = (scenes / "scene.tif").read_bytes()
    app.file_uploader[0].upload("first.tif", scene).run()
    app.file_uploader[0].upload("again.tif", scene).run()
    app.file_uploader[0].upload("notes.tif", b"hello").run()  # refused: leaves nothing
    assert not app.exception
    [kept] = (tmp_path / "work" / "uploads").iterdir()
    assert [path.name for path in kept.iterdir()] == ["first.tif"]


def test_bad_settings_are_a_message(fake_map: FakeMap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEOCOLOR_MAX_UPLOAD_MB", "many")
    app = _opened()
    assert _texts(app, "error")[0].startswith("GEOCOLOR_MAX_UPLOAD_MB: setting 'max_upload_mb'")


def test_an_8_bit_geotiff_upload_is_a_message(fake_map: FakeMap, tmp_path: Path) -> None:
    colorized = tmp_path / "colorized.tif"
    write_scene(colorized)
    with rasterio.open(colorized) as src:
        profile, data = src.profile, src.read()
    profile.update(dtype="uint8", nodata=None)
    with rasterio.open(colorized, "w", **profile) as dst:
        dst.write(np.clip(data + 30, 0, 255).astype(np.uint8))
        dst.descriptions = ("red", "green")
        dst.write_mask(True)
    app = _opened()
    app.radio[0].set_value("Upload").run()
    app.file_uploader[0].upload("colorized.tif", colorized.read_bytes()).run()
    assert not app.exception
    [error] = _texts(app, "error")
    assert "the bands are uint8, not Sentinel-1 backscatter" in error
    assert "internal error" not in error
