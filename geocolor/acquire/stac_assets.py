"""Which assets of a STAC item geocolor reads, under the keys each catalogue publishes.

- A whole SAFE product as a zip: the Copernicus Data Space's ``PRODUCT`` asset (an
  OData ``$value`` URL, with the SAFE's S3 folder as its ``alternate``), or any asset
  of type ``application/zip``. Its ``file:checksum`` (a multihash) is verified.
- Sentinel-2 L2A band COGs: Planetary Computer names them by band (``B02`` … ``B12``,
  ``B8A``, ``SCL``), Earth Search by colour (``blue``, ``red``, ``nir``, ``scl`` …,
  with ``*-jp2`` twins that are skipped), the Copernicus Data Space by band and
  resolution (``B02_10m``, ``SCL_20m``: JPEG 2000 in its ``s3://eodata`` bucket; the
  finest resolution is taken). Stored digital numbers become reflectance with the
  asset's ``raster:bands`` scale and offset when given (Earth Search), else with the
  L2A rule: baseline 04.00 onwards (``s2:processing_baseline``, or CDSE's
  ``processing:version``) carries an offset of -1000.
- Sentinel-1 backscatter COGs, one per polarisation under ``vv``/``vh`` (Planetary
  Computer's ``sentinel-1-rtc``: terrain-flattened γ⁰, which geocolor calls
  ``gamma0-rtc``, linear power).
- A GRD product's SAFE files as separate assets (``sentinel-1-grd`` of Planetary
  Computer and Earth Search): ``safe-manifest``, and per polarisation the annotation
  ``schema-product-vv``, ``schema-calibration-vv``, ``schema-noise-vv`` and the
  measurement, a COG in radar geometry under ``vv``. There the ``vv``/``vh`` keys are
  digital numbers that only the SAFE chain can use, so they are no backscatter COGs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from geocolor.errors import GeocolorError
from geocolor.s1.measures import RTC_MEASURE
from geocolor.s2.product import BAND_ORDER, SCL

# Earth Search v1 asset keys of the Sentinel-2 L2A bands
_EARTH_SEARCH_BANDS = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "swir16": "B11",
    "swir22": "B12",
    "scl": SCL,
}
_POLARISATIONS = ("VV", "VH", "HH", "HV")
# Copernicus Data Space asset keys of the Sentinel-2 L2A bands: band and resolution
_CDSE_BAND = re.compile(r"^(B\d[\dA]|SCL)_(\d+)m$")
# asset keys of a GRD product's SAFE files (Planetary Computer, Earth Search), by kind
_SAFE_PART_KEYS = {
    "annotation": "schema-product-{pol}",
    "calibration": "schema-calibration-{pol}",
    "noise": "schema-noise-{pol}",
    "measurement": "{pol}",
}
_L2A_OFFSET_BASELINE = "04.00"
_L2A_OFFSET = -1000.0
_QUANTIFICATION = 10000.0


@dataclass(frozen=True)
class SafeAsset:
    """A SAFE zip to download: where, its multihash checksum, whether it needs a login."""

    href: str
    checksum: str | None
    needs_login: bool


@dataclass(frozen=True)
class SafeParts:
    """A GRD product's SAFE files as assets: the manifest, and (kind, polarisation) -> href.

    Kinds are the SAFE reader's: ``annotation``, ``calibration``, ``noise``, ``measurement``.
    Hrefs are http(s) or ``s3://`` URLs.
    """

    manifest: str
    files: dict[tuple[str, str], str]


@dataclass(frozen=True)
class BandAsset:
    """A Sentinel-2 band COG and how its digital numbers become reflectance."""

    href: str
    offset: float
    quantification: float


def safe_asset(item: dict[str, Any]) -> SafeAsset | None:
    """The item's whole-product zip, if it has one."""
    assets = item.get("assets", {})
    chosen = assets.get("PRODUCT")
    if chosen is None:
        zips = [asset for asset in assets.values() if asset.get("type") == "application/zip"]
        chosen = zips[0] if zips else None
    if chosen is None:
        return None
    href = _http_href(chosen)
    if href is None:
        return None
    return SafeAsset(href, chosen.get("file:checksum"), bool(chosen.get("auth:refs")))


def safe_parts(item: dict[str, Any]) -> SafeParts | None:
    """The item's SAFE files, if it publishes a GRD product file by file."""
    assets = item.get("assets", {})
    manifest = _any_href(assets.get("safe-manifest") or assets.get("safe_manifest") or {})
    if manifest is None or not any(key.startswith("schema-product-") for key in assets):
        return None
    files = {}
    for pol in _POLARISATIONS:
        for kind, pattern in _SAFE_PART_KEYS.items():
            href = _any_href(assets.get(pattern.format(pol=pol.lower())) or {})
            if href is not None:
                files[(kind, pol)] = href
    return SafeParts(manifest, files)


def s2_band_assets(item: dict[str, Any]) -> dict[str, BandAsset]:
    """The item's Sentinel-2 band rasters by band name (``B02``, ``SCL``).

    Hrefs are http(s) COGs, or ``s3://`` COGs and JPEG 2000 files.
    """
    properties = item["properties"]
    baseline = str(
        properties.get("s2:processing_baseline") or properties.get("processing:version") or "00.00"
    )
    applied = properties.get("earthsearch:boa_offset_applied")
    default_offset = (
        _L2A_OFFSET if baseline >= _L2A_OFFSET_BASELINE and applied is not True else 0.0
    )
    bands: dict[str, BandAsset] = {}
    finest: dict[str, int] = {}
    for key, asset in item.get("assets", {}).items():
        band, resolution = _band_of(key)
        href = _band_href(asset)
        if band is None or href is None or finest.get(band, resolution + 1) <= resolution:
            continue
        finest[band] = resolution
        scaling = (asset.get("raster:bands") or [{}])[0]
        if band == SCL:
            bands[band] = BandAsset(href, 0.0, 1.0)
        elif "scale" in scaling:
            scale = float(scaling["scale"])
            offset = float(scaling.get("offset", 0.0))
            bands[band] = BandAsset(href, offset / scale, 1.0 / scale)
        else:
            bands[band] = BandAsset(href, default_offset, _QUANTIFICATION)
    return bands


def _band_of(key: str) -> tuple[str | None, int]:
    """The band an asset key names, and its resolution in metres (0 when unsaid)."""
    if key in _EARTH_SEARCH_BANDS:
        return _EARTH_SEARCH_BANDS[key], 0
    if key in (*BAND_ORDER, SCL):
        return key, 0
    match = _CDSE_BAND.match(key)
    if match is not None and match.group(1) in (*BAND_ORDER, SCL):
        return match.group(1), int(match.group(2))
    return None, 0


def _band_href(asset: dict[str, Any]) -> str | None:
    """An ``s3://`` GeoTIFF or JPEG 2000 href, else an http(s) GeoTIFF's URL."""
    href = str(asset.get("href", ""))
    media = str(asset.get("type", ""))
    if href.startswith("s3://") and (_is_geotiff(asset) or media == "image/jp2"):
        return href
    http = _http_href(asset)
    return http if http is not None and _is_geotiff(asset) else None


def s1_polarisation_assets(item: dict[str, Any]) -> dict[str, str]:
    """The item's per-polarisation backscatter COGs by polarisation (``VV``, ``VH``).

    Empty for an item of radar-geometry GRD files (see :func:`safe_parts`) or with a
    SAFE zip (Copernicus Data Space): their ``vv``/``vh`` are digital numbers.
    """
    if safe_parts(item) is not None or safe_asset(item) is not None:
        return {}
    found = {}
    for key, asset in item.get("assets", {}).items():
        href = _http_href(asset)
        if key.upper() in _POLARISATIONS and href is not None and _is_geotiff(asset):
            found[key.upper()] = href
    return found


def s1_measure(item: dict[str, Any]) -> str:
    """``gamma0-rtc`` for radiometrically terrain-corrected items, else ``sigma0``.

    RTC COGs hold terrain-flattened γ⁰, what ``process-s1 --measure gamma0-rtc`` makes,
    not the ellipsoid ``gamma0`` of the calibration LUT: the name keeps a model trained
    on them from being fed ellipsoid γ⁰.
    """
    collection = str(item.get("collection") or "")
    return RTC_MEASURE if "rtc" in collection.lower() else "sigma0"


def item_mission(item: dict[str, Any]) -> str:
    """``S1`` or ``S2``, from the item's collection, platform or constellation."""
    properties = item.get("properties", {})
    names = " ".join(
        str(value).lower()
        for value in (
            item.get("collection"),
            properties.get("platform"),
            properties.get("constellation"),
        )
        if value
    )
    if "sentinel-1" in names:
        return "S1"
    if "sentinel-2" in names:
        return "S2"
    raise GeocolorError(
        f"STAC item {item.get('id')}: neither Sentinel-1 nor Sentinel-2 "
        "(no sentinel-1/sentinel-2 collection, platform or constellation)"
    )


def _http_href(asset: dict[str, Any]) -> str | None:
    """The asset's http(s) URL: its href, else its ``alternate`` https link."""
    href = str(asset.get("href", ""))
    if href.startswith(("http://", "https://")):
        return href
    alternate = (asset.get("alternate") or {}).get("https") or {}
    other = str(alternate.get("href", ""))
    return other if other.startswith(("http://", "https://")) else None


def _any_href(asset: dict[str, Any]) -> str | None:
    """The asset's http(s) URL, else its ``s3://`` href."""
    href = str(asset.get("href", ""))
    return _http_href(asset) or (href if href.startswith("s3://") else None)


def _is_geotiff(asset: dict[str, Any]) -> bool:
    media = str(asset.get("type", ""))
    return media.startswith("image/tiff") or str(asset.get("href", "")).endswith((".tif", ".tiff"))
