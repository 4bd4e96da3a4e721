"""Scene search in a STAC API: presets for the public catalogues, items as products.

Any STAC API that serves Sentinel-1 GRD (or RTC) and Sentinel-2 L2A collections can
be searched; three public ones are presets, under the collection ids they publish:

- ``cdse``: the Copernicus Data Space Ecosystem's catalogue, whose items carry the
  original SAFE as a zip (the ``PRODUCT`` asset, downloaded through OData);
- ``planetary-computer``: Microsoft Planetary Computer, Sentinel-2 L2A band COGs and
  Sentinel-1 GRD products file by file (manifest, XML, measurement COGs), their URLs
  signed with a SAS token;
- ``earth-search``: Element 84's Earth Search, Sentinel-2 L2A band COGs and Sentinel-1
  GRD products file by file in a requester-pays S3 bucket;
- ``planetary-computer-rtc``: Planetary Computer with its Sentinel-1 RTC collection
  (terrain-flattened γ⁰ COGs, ``gamma0-rtc``) instead of GRD.

Items become the same :class:`~geocolor.acquire.catalog.Product` values a Sentinel Hub
search gives, so grouping into passes, pairing and the printed table are shared.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlparse

from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import (
    AoiArea,
    Product,
    SearchResult,
    group_acquisitions,
    suggest_pairs,
)
from geocolor.errors import GeocolorError, UsageError

PLANETARY_COMPUTER_HOST = "planetarycomputer.microsoft.com"
_PAGE_SIZE = 100


@dataclass(frozen=True)
class StacCatalogue:
    """A STAC API and the collections geocolor searches in it.

    ``sign`` says whether asset URLs are signed with Planetary Computer SAS tokens.
    """

    name: str
    url: str
    s1_collection: str
    s2_collection: str
    sign: bool = False


PRESETS = {
    "cdse": StacCatalogue(
        "cdse", "https://stac.dataspace.copernicus.eu/v1", "sentinel-1-grd", "sentinel-2-l2a"
    ),
    "planetary-computer": StacCatalogue(
        "planetary-computer",
        "https://planetarycomputer.microsoft.com/api/stac/v1",
        "sentinel-1-grd",
        "sentinel-2-l2a",
        sign=True,
    ),
    "earth-search": StacCatalogue(
        "earth-search",
        "https://earth-search.aws.element84.com/v1",
        "sentinel-1-grd",
        "sentinel-2-l2a",
    ),
    "planetary-computer-rtc": StacCatalogue(
        "planetary-computer-rtc",
        "https://planetarycomputer.microsoft.com/api/stac/v1",
        "sentinel-1-rtc",
        "sentinel-2-l2a",
        sign=True,
    ),
}


def stac_catalogue(target: str, environ: Mapping[str, str] | None = None) -> StacCatalogue:
    """The preset named ``target``, or a catalogue at the URL ``target``.

    A preset's URL can be pointed at a mirror with ``GEOCOLOR_STAC_URL_<PRESET>``
    (``GEOCOLOR_STAC_URL_PLANETARY_COMPUTER``), keeping its collections and signing.
    A URL gets the collection ids all three presets share for Sentinel-1 GRD and
    Sentinel-2 L2A; Planetary Computer URLs are signed whether given by name or URL.
    """
    env = os.environ if environ is None else environ
    if target in PRESETS:
        mirror = env.get(preset_url_variable(target))
        preset = PRESETS[target]
        return dataclasses.replace(preset, url=mirror.rstrip("/")) if mirror else preset
    parsed = urlparse(target)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        known = ", ".join(PRESETS)
        raise UsageError(f"stac:{target}: not a preset ({known}) nor an http(s) URL")
    signed = parsed.hostname == PLANETARY_COMPUTER_HOST
    return StacCatalogue(
        target, target.rstrip("/"), "sentinel-1-grd", "sentinel-2-l2a", sign=signed
    )


def preset_url_variable(preset: str) -> str:
    """The environment variable that points ``preset`` at another URL."""
    return f"GEOCOLOR_STAC_URL_{preset.upper().replace('-', '_')}"


@dataclass(frozen=True)
class StacSearch:
    """A search's products, and the items behind them by product id (for the fetch)."""

    result: SearchResult
    items: dict[str, dict[str, Any]]


def search_items(
    client: Any,
    catalogue: StacCatalogue,
    aoi: BaseGeometry,
    start: date,
    end: date,
    *,
    max_cloud: float,
    max_days: float,
) -> StacSearch:
    """Sentinel-1 and Sentinel-2 items over ``aoi`` from ``start`` through ``end`` (UTC days).

    ``client`` is an opened :class:`pystac_client.Client`. Sentinel-1 items of another
    instrument mode than IW are left out (EW covers the sea ice and open ocean), as are
    Sentinel-2 items cloudier than ``max_cloud`` percent.
    """
    from pystac_client.exceptions import APIError

    if not isinstance(aoi, Polygon | MultiPolygon):
        raise UsageError(f"the AOI must be a polygon, not a {aoi.geom_type}")
    window = (datetime.combine(start, time.min, UTC), datetime.combine(end, time(23, 59, 59), UTC))
    interval = f"{window[0]:%Y-%m-%dT%H:%M:%SZ}/{window[1]:%Y-%m-%dT%H:%M:%SZ}"
    found: dict[str, list[dict[str, Any]]] = {}
    try:
        for mission, collection in (
            ("S1", catalogue.s1_collection),
            ("S2", catalogue.s2_collection),
        ):
            search = client.search(
                collections=[collection],
                intersects=mapping(aoi),
                datetime=interval,
                limit=_PAGE_SIZE,
            )
            found[mission] = list(search.items_as_dicts())
    except APIError as exc:
        raise GeocolorError(
            f"the STAC API at {catalogue.url} refused the search ({_first_line(exc)})"
        ) from None
    area = AoiArea(aoi)
    products = []
    items = {}
    for mission, features in found.items():
        for feature in features:
            product = item_product(feature, mission, area)
            if _wanted(product, feature, max_cloud):
                products.append(product)
                items[product.product_id] = feature
    ordered = tuple(sorted(products, key=lambda product: product.time))
    acquisitions = group_acquisitions(ordered, aoi)
    result = SearchResult(ordered, acquisitions, suggest_pairs(acquisitions, aoi, max_days))
    return StacSearch(result, items)


def item_product(item: dict[str, Any], mission: str, area: AoiArea) -> Product:
    """The product an item describes, with the fraction of the AOI its geometry covers."""
    properties = item["properties"]
    footprint = shape(item["geometry"])
    cloud = properties.get("eo:cloud_cover")
    return Product(
        product_id=item["id"],
        mission=mission,
        time=item_time(item),
        orbit_direction=properties.get("sat:orbit_state"),
        cloud_cover=None if cloud is None else float(cloud),
        footprint=footprint,
        coverage=area.covered_by(footprint),
    )


def item_time(item: dict[str, Any]) -> datetime:
    """The item's ``datetime`` (else ``start_datetime``), in UTC."""
    properties = item["properties"]
    text = properties.get("datetime") or properties.get("start_datetime")
    if not text:
        raise GeocolorError(f"STAC item {item.get('id')}: no datetime")
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _wanted(product: Product, item: dict[str, Any], max_cloud: float) -> bool:
    if product.mission == "S1":
        mode = item["properties"].get("sar:instrument_mode")
        return mode in (None, "IW")
    return product.cloud_cover is None or product.cloud_cover <= max_cloud


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
