"""The app server ``geocolor app`` starts: the page, result tiles and the map's assets.

``streamlit run`` finds ``app`` below and serves it with uvicorn; the extra routes let
Leaflet fetch tiles of the results in the configured work folder and the vendored
scripts and styles, wherever the package is installed (Streamlit's own static folder
would have to sit inside the package, and the CDNs may be out of reach).
The page is named by path, not imported: its map component must be declared once the
Streamlit runtime is up, or the component's files are not served.
"""

from pathlib import Path

import streamlit as st
from starlette.routing import BaseRoute

from geocolor.app.assets import static_routes
from geocolor.app.settings import load_settings
from geocolor.app.tiles import tile_routes

#: The Streamlit script, run afresh on every rerun.
PAGE = str(Path(__file__).with_name("page.py"))


def routes() -> list[BaseRoute]:
    """Tiles of the settings' results folder, and the vendored assets."""
    results = load_settings().results
    results.mkdir(parents=True, exist_ok=True)
    return [*tile_routes(results), *static_routes()]


app = st.App(PAGE, routes=routes())
