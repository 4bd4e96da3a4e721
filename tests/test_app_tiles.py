"""The XYZ tile route: PNG tiles cut from a result's COGs, transparent outside, cacheable."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import rasterio
from morecantile import tms
from PIL import Image
from rasterio.transform import from_origin
from starlette.applications import Starlette
from starlette.testclient import TestClient

from geocolor.app.assets import MAP_CSS, MAP_JS, STATIC_ROUTE, static_routes
from geocolor.app.results import ResultFiles
from geocolor.app.tiles import TILE_PIXELS, tile_routes, tile_url

KEY = "0123456789abcdef0123"
# 2.56 km of 10 m pixels in UTM 31N near (3 E, 45 N); the left quarter has no data
ORIGIN = (500_000.0, 5_000_000.0)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    files = ResultFiles(tmp_path / KEY)
    files.folder.mkdir()
    profile = {"driver": "COG", "width": 256, "height": 256, "crs": "EPSG:32631"}
    profile.update(transform=from_origin(*ORIGIN, 10, 10), dtype="uint8")
    cols = np.arange(256)[None, :].repeat(256, 0)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        for path, count in ((files.cog, 3), (files.sar, 1)):
            with rasterio.open(path, "w", count=count, **profile) as dst:
                dst.write(np.stack([(cols % 200 + 20).astype(np.uint8)] * count))
                dst.write_mask(np.where(cols >= 64, 255, 0).astype(np.uint8))
    return TestClient(Starlette(routes=tile_routes(tmp_path)))


def _centre_tile(z: int) -> str:
    """The tile at zoom ``z`` over the middle of the data's right part."""
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(32631, 4326, always_xy=True).transform(
        ORIGIN[0] + 1600, ORIGIN[1] - 1280
    )
    tile = tms.get("WebMercatorQuad").tile(lon, lat, z)
    return f"{tile.z}/{tile.x}/{tile.y}"


def _png(body: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(body))
    assert image.size == (TILE_PIXELS, TILE_PIXELS)
    return np.asarray(image.convert("RGBA"))


@pytest.mark.parametrize("layer", ["colour", "sar"])
def test_tiles_are_sharp_at_zoom_16_and_cacheable(client: TestClient, layer: str) -> None:
    url = tile_url(KEY, layer).replace("{z}/{x}/{y}", _centre_tile(16))
    response = client.get(url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    rgba = _png(response.content)
    assert (rgba[..., 3] == 255).all()
    # at zoom 16 (2.4 m pixels) a tile spans about 60 of the COG's 10 m columns
    assert 40 < len(np.unique(rgba[..., 0])) < 90
    etag = response.headers["etag"]
    assert "max-age" in response.headers["cache-control"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.content


def test_tiles_are_transparent_outside_the_data(client: TestClient) -> None:
    # a zoom-12 tile (27 m pixels here) holds the 1.9 x 2.6 km of data and land around it
    url = tile_url(KEY, "colour").replace("{z}/{x}/{y}", _centre_tile(12))
    opaque = _png(client.get(url).content)[..., 3] > 0
    assert 0.03 < opaque.mean() < 0.15
    far = client.get(tile_url(KEY, "colour").replace("{z}/{x}/{y}", "16/0/0"))
    assert far.status_code == 200 and not _png(far.content)[..., 3].any()


@pytest.mark.parametrize(
    "path", [f"{KEY}/rgb/16/1/1.png", "../etc/colour/1/0/0.png", f"{KEY}/colour/1/5/0.png"]
)
def test_unknown_layers_keys_and_tiles_are_not_found(client: TestClient, path: str) -> None:
    assert client.get(f"/geocolor-tiles/{path}").status_code == 404


def test_the_vendored_map_assets_are_served() -> None:
    client = TestClient(Starlette(routes=static_routes()))
    for _, url in MAP_JS + MAP_CSS:
        response = client.get(url)
        assert response.status_code == 200 and response.content and "etag" in response.headers
    assert client.get(f"{STATIC_ROUTE}/../assets.py").status_code == 404
