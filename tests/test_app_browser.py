"""End to end in headless Chromium, offline: draw an AOI, colorize, zoom in, download.

Chromium is Debian's (``apt-get install chromium``). Every request to a host other than
the app's is aborted, CDNs and the OpenStreetMap base map included: the page must work
from the scripts and styles the app ships. Leaving, the test checks that no server
process outlives it. A screenshot is left in ``test-output/app.png``.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
import rasterio
from PIL import Image
from shapely.geometry import box, shape

from geocolor.geo.grid import LONLAT, reproject_geometry
from tests.conftest import require_tool
from tests.model_factory import log_tiny_model
from tests.scene_factory import CRS, RESOLUTION, tiny_registry, write_scene
from tests.servers import free_port, stop, wait_until_up
from tests.test_app_stop import alive, children

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "test-output" / "app.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# zoom the map to this level over the result (a 10 m COG is at its native resolution)
ZOOM = 16
SLOW_ALIAS = "slow"


@pytest.fixture
def chromium() -> str:
    return require_tool("/usr/bin/chromium")


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """``geocolor app`` on a free port, with a tiny model and one scene."""
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "scene.tif", size=300, nodata_rows=20)
    port = free_port()
    with tiny_registry(tmp_path) as registry:
        # a second, slower model: its job is still running when the user picks another alias
        log_tiny_model(registry, alias=SLOW_ALIAS, options={"ngf": 32, "n_blocks": 4})
        env = dict(os.environ)
        env.update(
            GEOCOLOR_MLFLOW_URI=registry,
            GEOCOLOR_SCENES=str(scenes),
            GEOCOLOR_WORKDIR=str(tmp_path / "work"),
        )
        env.pop("GEOCOLOR_APP_CONFIG", None)
        log = (tmp_path / "app.log").open("w")
        server = subprocess.Popen(
            [sys.executable, "-m", "geocolor.cli", "app", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        workers: list[int] = []
        try:
            wait_until_up(f"{url}/_stcore/health", server, log=tmp_path / "app.log")
            workers = children(server.pid)
            yield url
        finally:
            stop(server)
            log.close()
            deadline = time.monotonic() + 10
            while any(map(alive, workers)) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = [pid for pid in workers if alive(pid)]
            for pid in left:
                os.kill(pid, 9)
            assert not left, "the Streamlit server outlived geocolor app"


def test_draw_colorize_zoom_download_offline(chromium: str, app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import Response, Route, expect, sync_playwright

    refused: list[str] = []
    tiles: dict[str, bytes] = {}

    def abort(route: Route) -> None:
        refused.append(route.request.url)
        route.abort()

    def keep_tile(response: Response) -> None:
        if "/geocolor-tiles/" in response.url and f"/{ZOOM}/" in response.url:
            assert response.status == 200, response.url
            assert response.headers["content-type"] == "image/png"
            tiles[response.url] = response.body()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            page.route(lambda url: urlparse(url).hostname != "127.0.0.1", abort)
            page.on("response", keep_tile)
            page.goto(app_url)
            frame = page.frame_locator('iframe[title="streamlit_folium.st_folium"]')
            rectangle = frame.locator(".leaflet-draw-draw-rectangle")
            expect(rectangle).to_be_visible(timeout=30_000)
            expect(frame.locator("path.leaflet-interactive").first).to_be_visible()

            rectangle.click()
            area = frame.locator("#map_div").bounding_box()
            assert area is not None
            x, y = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
            # most of the scene, which fills the middle of the map
            page.mouse.move(x - 170, y - 150)
            page.mouse.down()
            page.mouse.move(x + 160, y + 160, steps=8)
            page.mouse.up()
            bbox = page.get_by_label("AOI bbox (lon/lat)")
            expect(bbox).not_to_have_value("", timeout=20_000)  # the drawing's bounds

            colorize = page.get_by_role("button", name="Colorize")
            expect(colorize).to_be_visible(timeout=20_000)
            # a job with the slow model, then another alias while it runs: never dropped
            # silently, it goes on in the background (or has finished), and can be cancelled
            _pick_alias(page, SLOW_ALIAS)
            expect(colorize).to_be_visible(timeout=20_000)
            colorize.click()
            expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=20_000)
            _pick_alias(page, "prod-candidate")
            background = page.get_by_text(
                re.compile("goes on in the background|finished; pick its settings")
            )
            expect(background).to_be_visible(timeout=20_000)
            cancel_it = page.get_by_role("button", name="Cancel it")
            if cancel_it.is_visible():
                cancel_it.click()
            ended = page.get_by_text(re.compile("was cancelled after|finished; pick its settings"))
            expect(ended).to_be_visible(timeout=120_000)

            expect(colorize).to_be_visible(timeout=20_000)
            colorize.click()
            download_cog = page.get_by_role("button", name="Download colorized COG")
            expect(download_cog).to_be_visible(timeout=60_000)
            colour = frame.locator('img.leaflet-tile[src*="/colour/"]')
            expect(colour.first).to_be_attached(timeout=20_000)
            expect(frame.locator('img.leaflet-tile[src*="/sar/"]').first).to_be_attached()

            # zoom in on the middle of the result: the same map, now at zoom 16
            map_div = frame.locator("#map_div")
            map_div.evaluate(
                f"""() => {{
                    const layer = Object.values(window.map._layers).find(
                        (l) => l._url && l._url.includes("/colour/"));
                    window.map.setView(L.latLngBounds(layer.options.bounds).getCenter(), {ZOOM});
                }}"""
            )
            loaded = frame.locator(f'img.leaflet-tile-loaded[src*="/colour/{ZOOM}/"]')
            expect(loaded.first).to_be_attached(timeout=20_000)
            page.wait_for_timeout(1_000)
            assert tiles, "no tile requested at zoom 16"
            pictures = [
                np.asarray(Image.open(io.BytesIO(body)).convert("RGBA")) for body in tiles.values()
            ]
            assert all(picture.shape == (256, 256, 4) for picture in pictures)
            assert any(
                picture[..., 3].all() and np.ptp(picture[..., :3]) > 0 for picture in pictures
            )

            # the swipe updates the layers, not the map: still zoom 16, draw tools in place
            page.get_by_text("Swipe: SAR on the left, colour on the right").click()
            expect(frame.locator(".leaflet-sbs-divider")).to_be_visible(timeout=20_000)
            clips = map_div.evaluate(
                """() => Object.values(window.map._layers)
                    .filter((l) => l._url && l._url.includes("/geocolor-tiles/"))
                    .map((l) => l.getContainer().style.clip)"""
            )
            assert len(clips) == 2 and all(clips), clips  # SAR left of the divider, colour right
            assert map_div.evaluate("() => window.map.getZoom()") == ZOOM
            assert frame.locator(".leaflet-draw-draw-rectangle").is_visible()

            # the swipe's reruns done: a download button of an earlier run is stale
            page.wait_for_timeout(1_000)
            expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=20_000)
            with page.expect_download() as cog_download:
                download_cog.click()
            cog = tmp_path / "colorized.tif"
            cog_download.value.save_as(cog)
            with page.expect_download() as aoi_download:
                page.get_by_role("button", name="Download AOI (GeoJSON)").click()
            aoi_file = tmp_path / "aoi.geojson"
            aoi_download.value.save_as(aoi_file)
        finally:
            # also when a step fails: the picture shows why
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=tmp_path / "app.png", full_page=True)
            shutil.copy(tmp_path / "app.png", SCREENSHOT)
            browser.close()

    # only the base map was out of reach; nothing the page needs came from outside
    assert all(urlparse(url).hostname == "tile.openstreetmap.org" for url in refused), refused
    aoi = shape(json.loads(aoi_file.read_text())["features"][0]["geometry"])
    with rasterio.open(cog) as src:
        assert src.crs == CRS and src.count == 3 and src.dtypes[0] == "uint8"
        expected = reproject_geometry(aoi, LONLAT, src.crs).bounds
        # pixels whose centres lie in the AOI: bounds within a pixel of the AOI's
        for got, want in zip(src.bounds, expected, strict=True):
            assert abs(got - want) <= RESOLUTION
        assert box(*src.bounds).area > 100 * RESOLUTION**2


def _pick_alias(page: Any, alias: str) -> None:
    """Choose ``alias`` in the sidebar's Alias select box."""
    page.get_by_test_id("stSelectbox").filter(has_text="Alias").click()
    page.get_by_role("option", name=alias).click()
