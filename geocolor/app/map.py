"""The app's Leaflet map: scene footprint, AOI drawing, and the result layers.

The result is laid over the basemap as two image overlays given by URL (the SAR below,
the colour above at the chosen opacity, both switchable in the layer control), so the
browser fetches each PNG once and caches it across reruns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from folium.plugins import Draw
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from streamlit_folium import st_folium

#: What the page reads back from the map: the drawn shapes only, so panning does not rerun.
RETURNED = ("last_active_drawing", "all_drawings")


class UrlImageOverlay(folium.raster_layers.ImageOverlay):
    """An image overlay fetched from a server-relative URL.

    folium takes a string without a scheme for a local file and inlines it as base64,
    the very thing a served result avoids.
    """

    def __init__(self, url: str, bounds: Any, **kwargs: Any) -> None:
        super().__init__("data:,", bounds, **kwargs)
        self.url = url


@dataclass(frozen=True)
class ResultLayers:
    """A colorized result as the browser fetches it."""

    colour_url: str
    sar_url: str
    bounds: tuple[tuple[float, float], tuple[float, float]]
    opacity: float


def build_map(
    footprint: BaseGeometry | None,
    aoi: BaseGeometry | None,
    result: ResultLayers | None,
) -> folium.Map:
    """A map framed on the scene, with the Draw tools for rectangles and polygons."""
    fmap = folium.Map(location=(20.0, 0.0), zoom_start=2, tiles="OpenStreetMap")
    if result is not None:
        UrlImageOverlay(
            result.sar_url, result.bounds, name="SAR (model input)", opacity=1.0
        ).add_to(fmap)
        UrlImageOverlay(
            result.colour_url, result.bounds, name="Colorized", opacity=result.opacity
        ).add_to(fmap)
    if footprint is not None:
        _outline(footprint, "Scene footprint", "#3388ff", 0.05).add_to(fmap)
        west, south, east, north = footprint.bounds
        fmap.fit_bounds([(south, west), (north, east)])
    if aoi is not None:
        _outline(aoi, "AOI", "#ff7800", 0.0).add_to(fmap)
    Draw(
        draw_options={
            "polyline": False,
            "circle": False,
            "marker": False,
            "circlemarker": False,
            "rectangle": True,
            "polygon": True,
        },
        edit_options={"edit": False, "remove": False},
    ).add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def _outline(geometry: BaseGeometry, name: str, colour: str, fill: float) -> folium.GeoJson:
    """A lon/lat outline layer, drawn 2 px wide and filled at ``fill`` opacity."""
    style = {"color": colour, "weight": 2, "fillOpacity": fill}
    return folium.GeoJson(mapping(geometry), name=name, style_function=lambda _: style)


def show_map(fmap: folium.Map, height: int = 520) -> dict[str, Any] | None:
    """Render ``fmap`` in the page; what the user drew (streamlit-folium's return value)."""
    returned = st_folium(
        fmap,
        key="map",
        height=height,
        use_container_width=True,
        returned_objects=list(RETURNED),
    )
    return returned if isinstance(returned, dict) else None


def drawn_feature(returned: dict[str, Any] | None) -> dict[str, Any] | None:
    """The shape the user drew last, as a GeoJSON feature, if any."""
    if not returned:
        return None
    feature = returned.get("last_active_drawing")
    if feature:
        return dict(feature)
    drawings = returned.get("all_drawings") or []
    return dict(drawings[-1]) if drawings else None
