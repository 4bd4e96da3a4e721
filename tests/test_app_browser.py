"""End to end in headless Chromium: open the app, draw an AOI, colorize, download.

Chromium is Debian's (``apt-get install chromium``); the scripts and styles the folium
map loads from CDNs come from ``tests/browser/node_modules`` (``npm ci`` there), since
the test machine has no network: every other outside request is aborted, and basemap
tiles get a blank PNG. A screenshot is left in ``test-output/app.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import rasterio
from shapely.geometry import box, shape

from geocolor.geo.grid import LONLAT, reproject_geometry
from tests.conftest import require_tool
from tests.scene_factory import CRS, RESOLUTION, tiny_registry, write_scene
from tests.servers import free_port, stop, wait_until_up

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "tests" / "browser" / "node_modules"
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
# cdnjs library name -> its folder in node_modules
CDNJS = {
    "leaflet.draw": "leaflet-draw/dist",
    "Leaflet.awesome-markers": "leaflet.awesome-markers/dist",
}
# cosmetic stylesheets folium links that no npm package ships: aborted, the map works
UNAVAILABLE = ("bootstrap-glyphicons.css", "leaflet.awesome.rotate.min.css")
# a 1x1 transparent PNG for every basemap tile
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000005000109a6c1b30000000049454e44ae426082"
)


def local_copy(url: str) -> Path | None:
    """The file in node_modules (or folium's package) standing in for a CDN URL."""
    parsed = urlparse(url)
    parts = parsed.path.strip("/").split("/")
    if parsed.netloc == "cdn.jsdelivr.net" and parts[0] == "npm":
        scoped = parts[1].startswith("@")
        package = "/".join(parts[1:3] if scoped else parts[1:2]).rsplit("@", 1)[0]
        return NODE_MODULES / package / "/".join(parts[3 if scoped else 2 :])
    if parsed.netloc == "cdnjs.cloudflare.com" and parts[:2] == ["ajax", "libs"]:
        folder = CDNJS.get(parts[2])
        return NODE_MODULES / folder / "/".join(parts[4:]) if folder else None
    if parsed.netloc == "code.jquery.com" and parts[0].startswith("jquery-"):
        return (
            NODE_MODULES
            / "jquery"
            / "dist"
            / ("jquery.min.js" if ".min." in parts[0] else "jquery.js")
        )
    return None


@pytest.fixture
def chromium() -> str:
    path = require_tool("/usr/bin/chromium")
    if not NODE_MODULES.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{NODE_MODULES} is missing in CI (run npm ci in tests/browser)")
        pytest.skip(f"{NODE_MODULES} is missing (run npm ci in tests/browser)")
    return path


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    """``geocolor app`` on a free port, with a tiny model and one scene."""
    scenes = tmp_path / "scenes"
    scenes.mkdir()
    write_scene(scenes / "scene.tif", size=300, nodata_rows=20)
    port = free_port()
    with tiny_registry(tmp_path) as registry:
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
        try:
            wait_until_up(f"{url}/_stcore/health", server, log=tmp_path / "app.log")
            yield url
        finally:
            stop(server)
            log.close()


def test_draw_colorize_download(chromium: str, app_url: str, tmp_path: Path) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    refused: list[str] = []

    def route(route: Route) -> None:
        url = route.request.url
        host = urlparse(url).hostname or ""
        if host.endswith("tile.openstreetmap.org"):
            route.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
        elif (copy := local_copy(url)) is not None and copy.is_file():
            route.fulfill(path=copy)
        else:
            refused.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            # the app's own files go straight through: routing them is slow
            page.route(lambda url: not url.startswith(app_url), route)
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

            colorize = page.get_by_role("button", name="Colorize")
            expect(colorize).to_be_visible(timeout=20_000)
            colorize.click()
            download_cog = page.get_by_role("button", name="Download colorized COG")
            expect(download_cog).to_be_visible(timeout=60_000)
            layer = frame.locator('img.leaflet-image-layer[src*="/colour.png"]')
            expect(layer).to_have_count(1, timeout=20_000)
            expect(frame.locator('img.leaflet-image-layer[src*="/sar.png"]')).to_have_count(1)
            assert layer.evaluate("image => image.complete && image.naturalWidth > 0")

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

    assert not [url for url in refused if not url.endswith(UNAVAILABLE)], refused
    aoi = shape(json.loads(aoi_file.read_text())["features"][0]["geometry"])
    with rasterio.open(cog) as src:
        assert src.crs == CRS and src.count == 3 and src.dtypes[0] == "uint8"
        expected = reproject_geometry(aoi, LONLAT, src.crs).bounds
        # pixels whose centres lie in the AOI: bounds within a pixel of the AOI's
        for got, want in zip(src.bounds, expected, strict=True):
            assert abs(got - want) <= RESOLUTION
        assert box(*src.bounds).area > 100 * RESOLUTION**2
