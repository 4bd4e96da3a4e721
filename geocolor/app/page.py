"""The Streamlit page of the map app: widgets wired to :mod:`geocolor.app.logic`.

Streamlit reruns this script on every interaction, so each step reads what earlier
reruns left in ``st.session_state`` and every slow thing (uploads, models, results) is
kept by key. A :class:`~geocolor.errors.GeocolorError` anywhere becomes a message in
the step it belongs to, and the rest of the page keeps working.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import streamlit as st
from shapely.geometry.base import BaseGeometry

from geocolor.app.drift_badge import badge_html, drift_warning
from geocolor.app.job_panel import (
    SERVER_FOLDERS,
    current_job,
    make_room,
    other_jobs,
    public,
    seen,
    start_colorization,
)
from geocolor.app.logic import (
    ModelSummary,
    aoi_from_bbox,
    aoi_from_drawing,
    aoi_geojson,
    check_aoi,
    connect_tracking,
    empty_registry_message,
    list_scenes,
    model_summary,
    registered_models,
    scene_label,
)
from geocolor.app.map import (
    Basemap,
    ResultLayers,
    build_map,
    drawn_feature,
    dynamic_layers,
    show_map,
)
from geocolor.app.results import (
    ResultFiles,
    bounds_of,
    drift_status,
    result_key,
)
from geocolor.app.settings import AppSettings, load_settings
from geocolor.app.tiles import tile_url
from geocolor.app.uploads import UploadLimits, accept_upload
from geocolor.colorize.pipeline import ColorizeConfig
from geocolor.errors import GeocolorError
from geocolor.models.device import resolve_device
from geocolor.models.logged import LoadedModel, load_model
from geocolor.s1.source import open_s1

log = logging.getLogger("geocolor.app")
P = ParamSpec("P")
T = TypeVar("T")


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def _load(uri: str) -> LoadedModel:
    return load_model(uri, resolve_device("auto"))


@st.cache_data(max_entries=16, show_spinner=False)
def _footprint(scene: str) -> BaseGeometry:
    return open_s1(scene).footprint()


def main() -> None:
    """Draw the page; a bug shows as one line here (its traceback goes to the log)."""
    st.set_page_config(page_title="geocolor", layout="wide")
    st.title("geocolor: Sentinel-1 to colour")
    try:
        _page()
    except Exception as exc:
        log.exception("the app failed")
        st.error(public(f"internal error: {type(exc).__name__}: {exc}"))


def _page() -> None:
    try:
        settings = load_settings()
    except GeocolorError as exc:
        st.error(str(exc))
        return
    st.session_state[SERVER_FOLDERS] = [str(settings.workdir), settings.scenes or ""]
    settings.workdir.mkdir(parents=True, exist_ok=True)
    connect_tracking(settings.tracking_uri)
    with st.sidebar:
        scene = _scene_step(settings)
        model = _model_step(settings)
        bbox = _bbox_field()
    if st.session_state.get("registry_empty"):
        st.warning(empty_registry_message(settings.tracking_uri))
    _set_aoi("bbox", bbox, aoi_from_bbox)
    footprint = _show_error(_footprint, scene) if scene else None
    _map_step(settings, scene, model, footprint)
    aoi = _checked_aoi(footprint, scene)
    key = _colorize_step(settings, scene, model, aoi) if scene and model and aoi else None
    other_jobs(key)
    if aoi is not None:
        st.download_button(
            "Download AOI (GeoJSON)",
            aoi_geojson(aoi),
            file_name="aoi.geojson",
            mime="application/geo+json",
        )


def _scene_step(settings: AppSettings) -> str | None:
    st.header("Scene")
    sources = ["Upload", "Scene folder"] if settings.scenes else ["Upload"]
    source = st.radio("Source", sources, index=len(sources) - 1, horizontal=True)
    if source == "Scene folder" and settings.scenes:
        scenes = _show_error(list_scenes, settings.scenes) or []
        if not scenes:
            st.info("No Sentinel-1 scenes in the scene folder.")
            return None
        return st.selectbox("Scene", scenes, format_func=scene_label)
    upload = st.file_uploader(
        f"Processed S1 GeoTIFF/COG or GRD SAFE zip (up to {settings.max_upload_mb} MiB)",
        type=["tif", "tiff", "zip"],
    )
    st.caption(f"Uploads larger than {settings.max_upload_mb} MiB are refused.")
    if upload is None:
        return None
    done = st.session_state.setdefault("uploads", {})
    path = done.get(upload.file_id)
    if upload.file_id not in done or (path is not None and not path.exists()):  # or evicted
        limits = UploadLimits.from_megabytes(settings.max_upload_mb)
        upload.seek(0)
        with st.spinner("Checking the upload…"):
            path = _show_error(accept_upload, upload.name, upload, settings.uploads, limits)
        done[upload.file_id] = path
        if path is not None:
            make_room(settings, path)
    return str(path) if path else None


def _model_step(settings: AppSettings) -> ModelSummary | None:
    st.header("Model")
    models = _show_error(registered_models, settings.tracking_uri)
    st.session_state["registry_empty"] = models == {}
    if not models:
        return None
    names = sorted(set(models) | {settings.model_name})
    name = st.selectbox("Registered model", names, index=names.index(settings.model_name))
    aliases = sorted(set(models.get(name, {})) | {settings.model_alias})
    alias = st.selectbox("Alias", aliases, index=aliases.index(settings.model_alias))
    summary = _show_error(model_summary, name, alias, settings.tracking_uri)
    if summary is not None:
        st.markdown(
            f"**Version** {summary.info.version} · **backend** {summary.backend} · "
            f"**skill** {summary.skill}",
            help="Validation PSNR above a per-pixel linear fit from the SAR bands; "
            "below zero the model does no better than that regression.",
        )
        if summary.metrics:
            st.dataframe(
                {"metric": list(summary.metrics), "value": list(summary.metrics.values())},
                hide_index=True,
            )
    return summary


def _map_step(
    settings: AppSettings,
    scene: str | None,
    model: ModelSummary | None,
    footprint: BaseGeometry | None,
) -> None:
    """The map, showing only the result of the current scene, model and AOI.

    A typed AOI pans the map to it (it may lie outside the scene); a drawn one is
    shown in the bbox field too.
    """
    state = st.session_state
    aoi: BaseGeometry | None = state.get("aoi")
    finished = None
    if scene and model and aoi is not None:
        files = _result_files(settings, scene, model, aoi)
        finished = files if bounds_of(files) is not None else None
    layers = _result_layers(finished) if finished else None
    url = settings.basemap_url
    fmap = build_map(footprint, Basemap(url, settings.basemap_attribution) if url else None)
    centre = None
    if aoi is not None and state.get("aoi_source") == "bbox":
        centre = (aoi.centroid.y, aoi.centroid.x)
    returned = show_map(fmap, dynamic_layers(fmap, footprint, aoi, layers), centre)
    drawing = drawn_feature(returned)
    if drawing and _set_aoi("drawing", json.dumps(drawing, sort_keys=True), _drawn_aoi):
        if state["aoi"] is not None:
            state["bbox_drawn"] = ",".join(f"{value:.5f}" for value in state["aoi"].bounds)
        st.rerun()  # so the map and the bbox field show the new AOI at once


def _bbox_field() -> str:
    """The typed AOI; after a drawing, the drawing's bounds (set before the widget exists)."""
    state = st.session_state
    if "bbox_drawn" in state:
        # shown, not taken as a new typed AOI: the drawn shape stays the AOI
        state["bbox_field"] = state["bbox"] = state.pop("bbox_drawn")
    return st.text_input("AOI bbox (lon/lat)", key="bbox_field", placeholder="minx,miny,maxx,maxy")


def _result_files(
    settings: AppSettings, scene: str, summary: ModelSummary, aoi: BaseGeometry
) -> ResultFiles:
    return ResultFiles(settings.results / result_key(scene, summary.uri, aoi, _config(settings)))


def _config(settings: AppSettings) -> ColorizeConfig:
    """How the app colorizes: the defaults, at the deployment's precision."""
    return ColorizeConfig(precision=settings.precision)


def _set_aoi(source: str, value: str, parse: Callable[[str], BaseGeometry]) -> bool:
    """Take the AOI from ``source`` if ``value`` is new there; whether it was new.

    A refused input clears the AOI and leaves its message for :func:`_checked_aoi`.
    """
    state = st.session_state
    if not value or state.get(source) == value:
        return False
    state[source], state["aoi_source"] = value, source
    try:
        state["aoi"], state["aoi_error"] = parse(value), None
    except GeocolorError as exc:
        state["aoi"], state["aoi_error"] = None, str(exc)
    return True


def _drawn_aoi(text: str) -> BaseGeometry:
    return aoi_from_drawing(json.loads(text))


def _checked_aoi(footprint: BaseGeometry | None, scene: str | None) -> BaseGeometry | None:
    state = st.session_state
    if state.get("aoi_error"):
        st.error(state["aoi_error"])
    aoi: BaseGeometry | None = state.get("aoi")
    if aoi is None:
        st.info("Draw a rectangle or polygon on the map, or type a bbox, to set the AOI.")
        return None
    if footprint is None or scene is None:
        return aoi
    return _show_error(check_aoi, aoi, footprint, scene)


def _colorize_step(
    settings: AppSettings, scene: str, summary: ModelSummary, aoi: BaseGeometry
) -> str:
    """Start, follow or show the result of colorizing ``scene`` in ``aoi``; its key."""
    config = _config(settings)
    files = _result_files(settings, scene, summary, aoi)
    status = current_job(files.key) if bounds_of(files) is None else None
    running = status is not None and status.state == "running"
    if bounds_of(files) is None and not running and st.button("Colorize", type="primary"):
        model = _show_error(_load, summary.uri)
        if model is not None:
            start_colorization(settings, files, scene, model, aoi, config)
            st.rerun()
    if bounds_of(files) is not None:
        seen(files.key)
        _drift_step(files)
        st.download_button(
            "Download colorized COG",
            files.cog.read_bytes,
            file_name=f"{Path(scene_label(scene)).stem}_colorized.tif",
            mime="image/tiff",
        )
    return files.key


def _drift_step(files: ResultFiles) -> None:
    """The verdict's badge (details on hover), and a warning when the scene drifted."""
    status = _show_error(drift_status, files)
    if status is None:
        return
    st.markdown(badge_html(status), unsafe_allow_html=True)
    warning = drift_warning(status)
    if warning:
        st.warning(warning)


def _result_layers(files: ResultFiles) -> ResultLayers | None:
    bounds = bounds_of(files)
    if bounds is None:
        return None
    opacity = st.slider("Colour opacity over the SAR", 0.0, 1.0, 0.8, 0.05)
    swipe = st.toggle("Swipe: SAR on the left, colour on the right")
    colour, sar = tile_url(files.key, "colour"), tile_url(files.key, "sar")
    return ResultLayers(colour, sar, bounds, opacity, swipe)


def _show_error(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
    """``function(*args)``, or None after showing its GeocolorError as a message.

    The message names files, never the server's folders they lie in.
    """
    try:
        return function(*args, **kwargs)
    except GeocolorError as exc:
        st.error(public(str(exc)))
        return None


if __name__ == "__main__":
    main()
