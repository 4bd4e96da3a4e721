"""Areas of interest: a lon/lat bbox, or a GeoJSON or WKT file in any CRS.

Everything downstream works with a shapely geometry in lon/lat (:func:`load_aoi`) and
projects it where needed, so ``prepare`` and ``colorize`` accept the same AOI forms.
"""

from __future__ import annotations

import json
import re
from typing import Any

import fsspec
import shapely
from rasterio.crs import CRS
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from geocolor.errors import UsageError
from geocolor.geo.crs import parse_crs
from geocolor.geo.grid import LONLAT, reproject_geometry

_NUMBER = r"\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*"
_BBOX = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")


def load_aoi(aoi: str) -> BaseGeometry:
    """Parse ``minx,miny,maxx,maxy`` (lon/lat) or read a GeoJSON/WKT file; return lon/lat.

    A GeoJSON file may be a geometry, a Feature or a FeatureCollection (all features are
    merged) and may name its CRS in the legacy ``crs`` member; a WKT file may start with
    ``EPSG:NNNN;`` or ``SRID=NNNN;`` (EWKT). Without a CRS, lon/lat is assumed.
    """
    match = _BBOX.match(aoi)
    if match:
        minx, miny, maxx, maxy = (float(v) for v in match.groups())
        if not (minx < maxx and miny < maxy):
            raise UsageError(f"AOI bbox {aoi!r}: need minx < maxx and miny < maxy")
        if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
            raise UsageError(f"AOI bbox {aoi!r}: not in lon/lat degrees")
        return box(minx, miny, maxx, maxy)
    try:
        with fsspec.open(aoi, "r", encoding="utf-8") as handle:
            text = handle.read()
    except (FileNotFoundError, OSError):
        raise UsageError(
            f"AOI {aoi!r}: neither a bbox 'minx,miny,maxx,maxy' nor a readable file"
        ) from None
    geometry, crs = (
        _parse_geojson(text, aoi) if text.lstrip().startswith("{") else _parse_wkt(text, aoi)
    )
    if geometry.is_empty:
        raise UsageError(f"{aoi}: the AOI geometry is empty")
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    require_area(geometry, aoi)
    if crs is not None and crs != LONLAT:
        geometry = reproject_geometry(geometry, crs, LONLAT)
    return geometry


def require_area(geometry: BaseGeometry, source: str) -> None:
    """Refuse an AOI without area (a point, a line, a flat polygon).

    Such an AOI holds no pixel: it would otherwise be reported as lying outside the
    scene, or as smaller than a pixel, which it is not where it was meant to mark a
    place. Growing it to a pixel would colorize or tile a single pixel, which no one
    asks for, so the user is told to give an area.
    """
    if geometry.area == 0:
        raise UsageError(
            f"{source}: the AOI is a {geometry.geom_type} with no area; give a polygon "
            "or a bbox minx,miny,maxx,maxy"
        )


def _parse_geojson(text: str, source: str) -> tuple[BaseGeometry, CRS | None]:
    try:
        data: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{source}: not valid GeoJSON ({exc.msg})") from None
    crs = None
    name = data.get("crs", {}).get("properties", {}).get("name")
    if name:
        crs = parse_crs(str(name), f"{source}: crs")
    kind = data.get("type")
    try:
        if kind == "FeatureCollection":
            geometries = [shape(feature["geometry"]) for feature in data.get("features", [])]
            if not geometries:
                raise UsageError(f"{source}: the FeatureCollection has no features")
            return shapely.union_all(geometries), crs
        if kind == "Feature":
            return shape(data["geometry"]), crs
        return shape(data), crs
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        raise UsageError(
            f"{source}: not a GeoJSON geometry, Feature or FeatureCollection"
        ) from None


def _parse_wkt(text: str, source: str) -> tuple[BaseGeometry, CRS | None]:
    text = text.strip()
    crs = None
    prefix = re.match(r"^(?:SRID=|EPSG:)(\d+);", text, flags=re.IGNORECASE)
    if prefix:
        crs = parse_crs(f"EPSG:{prefix.group(1)}", f"{source}: crs")
        text = text[prefix.end() :]
    try:
        return shapely.from_wkt(text), crs
    except shapely.errors.GEOSException:
        raise UsageError(f"{source}: neither GeoJSON nor WKT") from None
