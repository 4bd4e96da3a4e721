"""The scripts and styles the map needs, shipped in the package and served by the app.

folium links Leaflet, Leaflet.draw and jQuery from CDNs; a network without them would
show a grey bar instead of a map. The app serves its vendored copies
(``geocolor/app/static``, each with its licence) at ``STATIC_ROUTE`` and points the map's
elements at them.
"""

from __future__ import annotations

from pathlib import Path

from branca.element import Element
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

#: URL path under which the app server serves the vendored assets.
STATIC_ROUTE = "/geocolor-static"
STATIC_FOLDER = Path(__file__).with_name("static")

#: What the map itself loads: Leaflet, and jQuery for folium's templates.
MAP_JS = [
    ("leaflet", f"{STATIC_ROUTE}/leaflet/leaflet.js"),
    ("jquery", f"{STATIC_ROUTE}/jquery/jquery.min.js"),
]
MAP_CSS = [("leaflet_css", f"{STATIC_ROUTE}/leaflet/leaflet.css")]
DRAW_JS = [("leaflet_draw_js", f"{STATIC_ROUTE}/leaflet-draw/leaflet.draw.js")]
DRAW_CSS = [("leaflet_draw_css", f"{STATIC_ROUTE}/leaflet-draw/leaflet.draw.css")]
SWIPE_JS = [
    ("leaflet_side_by_side", f"{STATIC_ROUTE}/leaflet-side-by-side/leaflet-side-by-side.js")
]
SWIPE_CSS = [
    ("leaflet_side_by_side_layout", f"{STATIC_ROUTE}/leaflet-side-by-side/layout.css"),
    ("leaflet_side_by_side_range", f"{STATIC_ROUTE}/leaflet-side-by-side/range.css"),
]


def static_routes() -> list[BaseRoute]:
    """The app server's route ``STATIC_ROUTE/<file>`` to the vendored assets."""
    return [Mount(STATIC_ROUTE, app=StaticFiles(directory=STATIC_FOLDER), name="static")]


def use_local(element: Element, js: list[tuple[str, str]], css: list[tuple[str, str]]) -> None:
    """Make ``element`` link the served copies instead of its CDN defaults."""
    element.default_js = js  # type: ignore[attr-defined]
    element.default_css = css  # type: ignore[attr-defined]
