"""The app's Leaflet map: scene footprint, AOI drawing, and the result layers.

The map is built in two parts so it keeps its state across Streamlit's reruns. The base
map (base layer, draw tools, framing on the scene) renders the same script on every
rerun of one scene, so streamlit-folium keeps it mounted: centre, zoom and drawn shapes
stay. Everything that changes (footprint, AOI, result) goes into feature groups that
streamlit-folium swaps in place. A result is shown as two tile layers cut from its COGs
(the SAR below, the colour above at the chosen opacity), optionally split by a swipe
control with the SAR on the left and the colour on the right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import folium
from branca.element import MacroElement
from folium.plugins import Draw
from jinja2 import Template
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry
from streamlit_folium import st_folium

from geocolor.app.assets import (
    DRAW_CSS,
    DRAW_JS,
    MAP_CSS,
    MAP_JS,
    SWIPE_CSS,
    SWIPE_JS,
    use_local,
)

#: What the page reads back from the map: the drawn shapes only, so panning does not rerun.
RETURNED = ("last_active_drawing", "all_drawings")
#: Deepest zoom: a 10 m COG is at its native resolution at zoom 16-17.
MAX_ZOOM = 19
Bounds = tuple[tuple[float, float], tuple[float, float]]


@dataclass(frozen=True)
class Basemap:
    """An XYZ base layer and its credit."""

    url: str
    attribution: str


@dataclass(frozen=True)
class ResultLayers:
    """A colorized result as the browser fetches it: two XYZ tile URL templates."""

    colour_url: str
    sar_url: str
    bounds: Bounds
    opacity: float
    swipe: bool = False


class SwipeControl(MacroElement):
    """leaflet-side-by-side between two tile layers, removed with its feature group.

    Added to the feature group holding ``right``; when streamlit-folium swaps the group
    out, the control goes with it and the layers are unclipped. Its script comes with
    the base map (see :func:`build_map`).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control.sideBySide(
            {{ this.left.get_name() }}, {{ this.right.get_name() }}
        ).addTo({{ this.map.get_name() }});
        {{ this._parent.get_name() }}.on("remove", function () {
            {{ this.get_name() }}.remove();
        });
        {% endmacro %}
        """
    )

    def __init__(self, fmap: folium.Map, left: folium.TileLayer, right: folium.TileLayer) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "SwipeControl"
        self.map, self.left, self.right = fmap, left, right


def build_map(footprint: BaseGeometry | None, basemap: Basemap | None) -> folium.Map:
    """The base map: framed on the scene, with the Draw tools; no layers that change.

    Without a base map the background stays plain, so a page without internet still
    shows the scene, the AOI and the results.
    """
    fmap = folium.Map(location=(20.0, 0.0), zoom_start=2, tiles=None, max_zoom=MAX_ZOOM)
    # the swipe's script too: streamlit-folium loads scripts only when the map mounts
    use_local(fmap, MAP_JS + SWIPE_JS, MAP_CSS + SWIPE_CSS)
    if basemap is not None:
        folium.TileLayer(
            basemap.url, attr=basemap.attribution, name="Base map", max_zoom=MAX_ZOOM
        ).add_to(fmap)
    if footprint is not None:
        west, south, east, north = footprint.bounds
        fmap.fit_bounds([(south, west), (north, east)])
    draw = Draw(
        draw_options={
            "polyline": False,
            "circle": False,
            "marker": False,
            "circlemarker": False,
            "rectangle": True,
            "polygon": True,
        },
        edit_options={"edit": False, "remove": False},
    )
    use_local(draw, DRAW_JS, DRAW_CSS)
    draw.add_to(fmap)
    return fmap


def dynamic_layers(
    fmap: folium.Map,
    footprint: BaseGeometry | None,
    aoi: BaseGeometry | None,
    result: ResultLayers | None,
) -> list[folium.FeatureGroup]:
    """The feature groups streamlit-folium updates in place on ``fmap``."""
    groups = []
    if result is not None:
        sar = folium.FeatureGroup(name="SAR (model input)")
        colour = folium.FeatureGroup(name="Colorized")
        sar_tiles = _result_tiles(result.sar_url, result.bounds, 1.0, z_index=2)
        colour_tiles = _result_tiles(result.colour_url, result.bounds, result.opacity, z_index=3)
        sar_tiles.add_to(sar)
        colour_tiles.add_to(colour)
        if result.swipe:
            SwipeControl(fmap, sar_tiles, colour_tiles).add_to(colour)
        groups += [sar, colour]
    if footprint is not None:
        groups.append(_outline(footprint, "Scene footprint", "#3388ff", 0.05))
    if aoi is not None:
        groups.append(_outline(aoi, "AOI", "#ff7800", 0.0))
    return groups


def _result_tiles(url: str, bounds: Bounds, opacity: float, z_index: int) -> folium.TileLayer:
    """Tiles of one result layer, requested only inside its bounds."""
    return folium.TileLayer(
        url,
        attr="geocolor",
        overlay=True,
        opacity=opacity,
        max_zoom=MAX_ZOOM,
        bounds=[list(corner) for corner in bounds],
        z_index=z_index,
    )


def _outline(geometry: BaseGeometry, name: str, colour: str, fill: float) -> folium.FeatureGroup:
    """A lon/lat outline layer, drawn 2 px wide and filled at ``fill`` opacity."""
    style = {"color": colour, "weight": 2, "fillOpacity": fill}
    group = folium.FeatureGroup(name=name)
    folium.GeoJson(mapping(geometry), style_function=lambda _: style).add_to(group)
    return group


def show_map(
    fmap: folium.Map,
    layers: list[folium.FeatureGroup],
    center: tuple[float, float] | None = None,
    height: int = 520,
) -> dict[str, Any] | None:
    """Render ``fmap`` with ``layers``; what the user drew (streamlit-folium's return value).

    ``center`` pans the map there when it differs from the last one given; None
    leaves the view where the user put it.
    """
    returned = st_folium(
        fmap,
        key="map",
        height=height,
        use_container_width=True,
        returned_objects=list(RETURNED),
        feature_group_to_add=layers,
        layer_control=folium.LayerControl(collapsed=False),
        center=center,
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
