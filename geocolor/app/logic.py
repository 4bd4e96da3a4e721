"""What the map app decides, kept out of the Streamlit script so it can be tested alone.

Scenes offered from the configured folder, the registered models and what the app
says about them, and the area of interest: parsed from a typed bbox or a drawn shape,
checked against the scene's footprint, and handed out as GeoJSON.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import fsspec
import mlflow
import shapely
from mlflow.exceptions import MlflowException
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError, UsageError, one_line
from geocolor.geo.aoi import load_aoi
from geocolor.models.model_registry import ModelRow, VersionInfo, alias_holder, list_versions

SCENE_SUFFIXES = (".tif", ".tiff", ".zip", ".safe")
# Sentinel products are named by mission (S1A_..., S2B_..., S5P_...): only S1 are scenes
_OTHER_MISSION = re.compile(r"^S[2-9][A-Z]?_", re.IGNORECASE)

# an unreachable tracking server must answer the page in seconds, not after retries
_MLFLOW_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


def list_scenes(location: str) -> list[str]:
    """Scenes directly inside a folder or URL prefix: GeoTIFFs, and Sentinel-1 SAFEs or zips.

    Products of other Sentinel missions (Sentinel-2 SAFEs beside the radar ones) are
    left out by their names: offered, they would fail as "not a SAFE".
    """
    try:
        fs, root = fsspec.core.url_to_fs(location)
        entries = fs.ls(root, detail=False)
    except (OSError, ValueError, ImportError) as exc:
        raise GeocolorError(f"{location}: cannot list scenes ({one_line(exc)})") from None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    names = sorted(entry.rstrip("/") for entry in entries if is_scene_name(entry))
    if protocol in ("file", "local"):
        return names
    return [fs.unstrip_protocol(name) for name in names]


def is_scene_name(path: str) -> bool:
    """Whether ``path`` is named like a scene, and not like another mission's product."""
    name = scene_label(path)
    return name.lower().endswith(SCENE_SUFFIXES) and not _OTHER_MISSION.match(name)


def scene_label(path: str) -> str:
    """The file name shown for a scene."""
    return posixpath.basename(path.rstrip("/"))


def connect_tracking(uri: str) -> None:
    """Point MLflow at ``uri``, failing fast if it is unreachable."""
    for name, value in _MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    mlflow.set_tracking_uri(uri)


def empty_registry_message(tracking_uri: str) -> str:
    """What the page says when the tracking server holds no registered model yet."""
    return (
        f"No model is registered in MLflow at {tracking_uri} yet, so there is nothing to "
        "colorize with. Train one (`geocolor train`) and register it with an alias "
        "(`geocolor models promote`), or point the app at another tracking server "
        "(GEOCOLOR_MLFLOW_URI)."
    )


def hide_server_paths(text: str, folders: Iterable[str | os.PathLike[str]]) -> str:
    """``text`` with every path under one of the server's ``folders`` cut to its file name.

    Users see the product or file they picked, never where the server keeps it.
    """
    for folder in folders:
        prefix = re.escape(str(folder).rstrip("/"))
        text = re.sub(prefix + r"(?:/[^\s'\"()\[\],;:]*)?/([^/\s'\"()\[\],;:]+)", r"\1", text)
        text = re.sub(prefix + r"/?", "a server folder", text)
    return text


def registered_models(tracking_uri: str) -> dict[str, dict[str, str]]:
    """Registered model name -> {alias: version}, as the tracking server lists them."""
    try:
        found = mlflow.MlflowClient().search_registered_models()
    except (MlflowException, OSError) as exc:
        raise _unreachable(tracking_uri, exc) from None
    return {
        model.name: {alias: str(version) for alias, version in model.aliases.items()}
        for model in found
    }


@dataclass(frozen=True)
class ModelSummary:
    """What the app shows about the model it will colorize with."""

    info: VersionInfo
    backend: str
    metrics: dict[str, float]

    @property
    def uri(self) -> str:
        """The exact version, so a moving alias cannot change the model mid-session."""
        return f"models:/{self.info.name}/{self.info.version}"

    @property
    def skill(self) -> str:
        """Val PSNR above the per-pixel linear baseline's, for display ("n/a" if not logged)."""
        value = self.metrics.get("val_skill")
        return "n/a" if value is None else f"{value:+.2f} dB"


def model_summary(name: str, alias: str, tracking_uri: str) -> ModelSummary:
    """The version of ``name`` holding ``alias``, its backend and its run's metrics.

    Raises
    ------
    GeocolorError
        When the tracking server is unreachable or no version holds the alias.
    """
    try:
        holder = alias_holder(name, alias)
        rows: list[ModelRow] = list_versions(name) if holder else []
    except (MlflowException, OSError) as exc:
        raise _unreachable(tracking_uri, exc) from None
    if holder is None:
        raise GeocolorError(f"model {name!r}: no version holds the alias {alias!r}")
    metrics = next((row.metrics for row in rows if row.info.version == holder.version), {})
    return ModelSummary(holder, holder.tags.get("backend", "unknown"), metrics)


def _unreachable(tracking_uri: str, exc: BaseException) -> GeocolorError:
    return GeocolorError(f"MLflow at {tracking_uri} cannot be reached ({one_line(exc)[:200]})")


def aoi_from_bbox(text: str) -> BaseGeometry:
    """A lon/lat box from typed ``minx,miny,maxx,maxy`` (never read as a file path)."""
    parts = text.split(",")
    try:
        numbers = [float(part) for part in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4:
        raise UsageError(f"AOI {text!r}: type four numbers, minx,miny,maxx,maxy in degrees")
    return load_aoi(",".join(repr(number) for number in numbers))


def aoi_from_drawing(drawing: Mapping[str, Any]) -> BaseGeometry:
    """The lon/lat geometry of a GeoJSON feature drawn on the map."""
    try:
        geometry = shape(drawing["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        raise UsageError("the drawn AOI is not a GeoJSON feature") from None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise UsageError(f"draw a rectangle or polygon as AOI, not a {geometry.geom_type}")
    return geometry if geometry.is_valid else shapely.make_valid(geometry)


def check_aoi(aoi: BaseGeometry, footprint: BaseGeometry, scene: str) -> BaseGeometry:
    """``aoi`` when it overlaps the scene's footprint; refused with a message otherwise."""
    if aoi.area == 0 or not aoi.intersection(footprint).area > 0:
        raise UsageError(f"the AOI lies outside the scene {scene_label(scene)}")
    return aoi


def aoi_geojson(aoi: BaseGeometry) -> str:
    """The AOI as a GeoJSON FeatureCollection in lon/lat."""
    feature = {"type": "Feature", "properties": {}, "geometry": mapping(aoi)}
    return json.dumps({"type": "FeatureCollection", "features": [feature]})
