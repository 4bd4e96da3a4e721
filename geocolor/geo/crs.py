"""Which CRS a product lands in: the one the user named, else the UTM zone of its area.

Fetching, the Sentinel-1 chain, colorizing and AOI files all take a CRS as text from
the user; they parse it here, so a bad one reads the same everywhere, and they fall
back to the same UTM zone, so products made separately land on one grid.
"""

from __future__ import annotations

from rasterio.crs import CRS
from rasterio.errors import CRSError
from shapely.geometry.base import BaseGeometry

from geocolor.errors import UsageError


def parse_crs(text: str, setting: str = "crs") -> CRS:
    """``text`` (EPSG code, URN, WKT, PROJ string...) as a CRS.

    Parameters
    ----------
    text
        What the user wrote.
    setting
        Where it was written (an option, a file), named in the error.

    Raises
    ------
    UsageError
        One line naming ``setting`` and ``text`` when ``text`` is not a CRS.
    """
    try:
        return CRS.from_user_input(text)
    except CRSError:
        raise UsageError(f"{setting} {text!r} is not a coordinate reference system") from None


def utm_crs_for(lon: float, lat: float) -> CRS:
    """The WGS 84 / UTM zone CRS containing (lon, lat)."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def utm_crs_of(area: BaseGeometry) -> CRS:
    """The UTM zone of a lon/lat area's centroid: metres with little distortion there."""
    centroid = area.centroid
    return utm_crs_for(centroid.x, centroid.y)


def named_or_utm_crs(named: str | None, area: BaseGeometry, setting: str = "crs") -> CRS:
    """The CRS the user ``named`` (see :func:`parse_crs`), else the UTM zone of ``area``."""
    return utm_crs_of(area) if named is None else parse_crs(named, setting)
