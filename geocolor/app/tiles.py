"""XYZ map tiles cut on request from a result's Cloud-Optimised GeoTIFFs.

Leaflet asks for ``TILES_ROUTE/<key>/<layer>/{z}/{x}/{y}.png``; rio-tiler reads just
the blocks of the COG (or of one of its overviews) under that Web-Mercator tile, so the
colour and the SAR it came from are sharp down to their native 10 m at zoom 16-17 and
cheap at zoom 5. Outside the data a tile is transparent. A result never changes once
written (its folder is named by a hash of its inputs), so tiles carry an ETag and may
be cached by the browser.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
from rio_tiler.errors import TileOutsideBounds
from rio_tiler.io import Reader
from rio_tiler.models import ImageData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from geocolor.app.results import ResultFiles

#: URL path under which the app server serves result tiles.
TILES_ROUTE = "/geocolor-tiles"
#: Side of a tile in pixels (Leaflet's default).
TILE_PIXELS = 256
#: How long a browser may reuse a tile without asking again.
CACHE_CONTROL = "public, max-age=3600"
_KEY = re.compile(r"^[0-9a-f]{20}$")


def layer_file(files: ResultFiles, layer: str) -> Path | None:
    """The COG a layer name stands for, None for an unknown name."""
    return {"colour": files.cog, "sar": files.sar}.get(layer)


def tile_url(key: str, layer: str) -> str:
    """Leaflet's URL template for one layer of the result ``key``."""
    return f"{TILES_ROUTE}/{key}/{layer}/{{z}}/{{x}}/{{y}}.png"


def render_tile(cog: Path, z: int, x: int, y: int) -> bytes:
    """A PNG of tile ``z/x/y``: the COG's bands with its mask as alpha, empty outside."""
    with Reader(str(cog)) as src:
        try:
            image = src.tile(x, y, z, tilesize=TILE_PIXELS)
        except TileOutsideBounds:
            return empty_tile()
    png: bytes = image.render(img_format="PNG")
    return png


@cache
def empty_tile() -> bytes:
    """A fully transparent tile."""
    shape = (1, TILE_PIXELS, TILE_PIXELS)
    masked = np.ma.MaskedArray(np.zeros(shape, np.uint8), mask=np.ones(shape, bool))
    png: bytes = ImageData(masked).render(img_format="PNG")
    return png


def tile_routes(results: Path) -> list[BaseRoute]:
    """The route ``TILES_ROUTE/<key>/<layer>/{z}/{x}/{y}.png`` over the results folder."""

    def endpoint(request: Request) -> Response:
        params = request.path_params
        key, z, x, y = params["key"], params["z"], params["x"], params["y"]
        cog = layer_file(ResultFiles(results / key), params["layer"]) if _KEY.match(key) else None
        if cog is None or not cog.is_file() or not 0 <= x < 2**z or not 0 <= y < 2**z:
            return Response(status_code=404)
        stat = cog.stat()
        etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
        headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(render_tile(cog, z, x, y), media_type="image/png", headers=headers)

    path = TILES_ROUTE + "/{key}/{layer}/{z:int}/{x:int}/{y:int}.png"
    return [Route(path, endpoint, methods=["GET"])]
