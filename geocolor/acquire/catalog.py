"""Scene search over an AOI and time window, and suggested Sentinel-1/Sentinel-2 pairs.

Products found by the Catalog API are grouped into *acquisitions*: the products of one
pass (one mission, one orbit direction, minutes apart) that the Process API mosaics
into one image. Pairs match each Sentinel-2 acquisition with the Sentinel-1
acquisition that best trades joint AOI coverage against time difference.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import shapely
from sentinelhub.api.catalog import SentinelHubCatalog
from sentinelhub.constants import CRS
from sentinelhub.data_collections import DataCollection
from sentinelhub.geometry import Geometry
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.sentinelhub_session import Connection, service_errors
from geocolor.errors import UsageError
from geocolor.geo.crs import utm_crs_of
from geocolor.geo.grid import LONLAT, reproject_geometry

# the client's collections pin the commercial deployment's URL; these follow the
# connection's base URL instead (Copernicus Data Space or any other deployment)
S1_COLLECTION = DataCollection.SENTINEL1_IW.define_from("GEOCOLOR_SENTINEL1_IW", service_url=None)
S2_COLLECTION = DataCollection.SENTINEL2_L2A.define_from("GEOCOLOR_SENTINEL2_L2A", service_url=None)
SAME_PASS = timedelta(minutes=10)
_PAGE_SIZE = 100


@dataclass(frozen=True)
class Product:
    """One catalogue entry; ``coverage`` is the fraction of the AOI its footprint covers."""

    product_id: str
    mission: str
    time: datetime
    orbit_direction: str | None
    cloud_cover: float | None
    footprint: BaseGeometry
    coverage: float


@dataclass(frozen=True)
class Acquisition:
    """Products of one pass, fetched together as one mosaic."""

    mission: str
    products: tuple[Product, ...]
    footprint: BaseGeometry
    coverage: float

    @property
    def start(self) -> datetime:
        """Time of the earliest product."""
        return self.products[0].time

    @property
    def end(self) -> datetime:
        """Time of the latest product."""
        return self.products[-1].time

    @property
    def name(self) -> str:
        """File-name-safe label, e.g. ``S2_20221005T115411``."""
        return f"{self.mission}_{self.start:%Y%m%dT%H%M%S}"

    @property
    def orbit_direction(self) -> str | None:
        """Orbit direction shared by the products (Sentinel-1), else None."""
        return self.products[0].orbit_direction

    @property
    def cloud_cover(self) -> float | None:
        """Mean cloud cover of the products in percent (Sentinel-2), else None."""
        covers = [p.cloud_cover for p in self.products if p.cloud_cover is not None]
        return sum(covers) / len(covers) if covers else None


@dataclass(frozen=True)
class PairSuggestion:
    """A Sentinel-1 and a Sentinel-2 acquisition worth fetching together."""

    s1: Acquisition
    s2: Acquisition
    days_apart: float
    coverage: float
    score: float


@dataclass(frozen=True)
class SearchResult:
    """Everything a search found, grouped and paired."""

    products: tuple[Product, ...]
    acquisitions: tuple[Acquisition, ...]
    pairs: tuple[PairSuggestion, ...]


def search_scenes(
    connection: Connection,
    aoi: BaseGeometry,
    start: date,
    end: date,
    *,
    max_cloud: float = 100.0,
    max_days: float = 10.0,
) -> SearchResult:
    """Search both collections over ``aoi`` from ``start`` through ``end`` (whole days, UTC).

    Parameters
    ----------
    connection
        Authenticated client (:func:`geocolor.acquire.sentinelhub_session.connect`).
    aoi
        Area of interest in lon/lat.
    max_cloud
        Largest Sentinel-2 scene cloud cover in percent.
    max_days
        Largest time difference of a suggested pair.
    """
    if not isinstance(aoi, Polygon | MultiPolygon):
        raise UsageError(f"the AOI must be a polygon, not a {aoi.geom_type}")
    window = (
        datetime.combine(start, time.min, UTC),
        datetime.combine(end, time(23, 59, 59), UTC),
    )
    catalog = SentinelHubCatalog(config=connection.config)
    catalog.client = connection.client
    geometry = Geometry(aoi, CRS.WGS84)
    cloud_filter = f"eo:cloud_cover <= {max_cloud:g}" if max_cloud < 100 else None
    with service_errors(connection.credentials, "catalog search"):
        s1 = list(catalog.search(S1_COLLECTION, time=window, geometry=geometry, limit=_PAGE_SIZE))
        s2 = list(
            catalog.search(
                S2_COLLECTION, time=window, geometry=geometry, filter=cloud_filter, limit=_PAGE_SIZE
            )
        )
    area = AoiArea(aoi)
    products = tuple(
        sorted(
            [_product(feature, "S1", area) for feature in s1]
            + [_product(feature, "S2", area) for feature in s2],
            key=lambda product: product.time,
        )
    )
    acquisitions = group_acquisitions(products, aoi)
    return SearchResult(products, acquisitions, suggest_pairs(acquisitions, aoi, max_days))


def group_acquisitions(products: Iterable[Product], aoi: BaseGeometry) -> tuple[Acquisition, ...]:
    """Group products of one mission and orbit direction less than :data:`SAME_PASS` apart."""
    ordered = sorted(products, key=lambda p: (p.mission, p.orbit_direction or "", p.time))
    groups: list[list[Product]] = []
    for product in ordered:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and (last.mission, last.orbit_direction) == (product.mission, product.orbit_direction)
            and product.time - last.time <= SAME_PASS
        ):
            groups[-1].append(product)
        else:
            groups.append([product])
    area = AoiArea(aoi)
    acquisitions = []
    for group in groups:
        footprint = shapely.union_all([product.footprint for product in group])
        acquisitions.append(
            Acquisition(group[0].mission, tuple(group), footprint, area.covered_by(footprint))
        )
    return tuple(sorted(acquisitions, key=lambda acquisition: acquisition.start))


def suggest_pairs(
    acquisitions: Sequence[Acquisition], aoi: BaseGeometry, max_days: float
) -> tuple[PairSuggestion, ...]:
    """Best Sentinel-1 partner of each Sentinel-2 acquisition, best pairs first.

    A pair's score is its joint AOI coverage, discounted linearly with the time
    difference down to one half at ``max_days``; pairs further apart, or not overlapping
    inside the AOI, are not suggested.
    """
    area = AoiArea(aoi)
    s1 = [a for a in acquisitions if a.mission == "S1"]
    pairs = []
    for optical in (a for a in acquisitions if a.mission == "S2"):
        candidates = []
        for radar in s1:
            days = abs((radar.start - optical.start).total_seconds()) / 86400.0
            if days > max_days:
                continue
            joint = area.covered_by(radar.footprint.intersection(optical.footprint))
            if joint > 0:
                discount = 1.0 - 0.5 * days / max_days if max_days > 0 else 1.0
                candidates.append(PairSuggestion(radar, optical, days, joint, joint * discount))
        if candidates:
            pairs.append(max(candidates, key=lambda pair: pair.score))
    return tuple(sorted(pairs, key=lambda pair: (-pair.score, pair.days_apart)))


def acquisitions_to_fetch(
    result: SearchResult, missions: Collection[str], pairs: int | None
) -> tuple[Acquisition, ...]:
    """What a fetch downloads: the acquisitions of the ``pairs`` best pairs.

    With ``pairs`` None, or when only one mission is wanted, every acquisition of the
    wanted missions.
    """
    if pairs is None or set(missions) != {"S1", "S2"}:
        return tuple(a for a in result.acquisitions if a.mission in missions)
    chosen = {a.name: a for pair in result.pairs[:pairs] for a in (pair.s1, pair.s2)}
    return tuple(sorted(chosen.values(), key=lambda acquisition: acquisition.start))


def result_to_json(result: SearchResult) -> dict[str, Any]:
    """Plain-JSON form of a search, for ``geocolor search --json``."""
    return {
        "products": [
            {
                "id": product.product_id,
                "mission": product.mission,
                "datetime": product.time.isoformat(),
                "orbit_direction": product.orbit_direction,
                "cloud_cover": product.cloud_cover,
                "coverage": round(product.coverage, 4),
                "footprint": mapping(product.footprint),
            }
            for product in result.products
        ],
        "acquisitions": [
            {
                "name": acquisition.name,
                "mission": acquisition.mission,
                "start": acquisition.start.isoformat(),
                "end": acquisition.end.isoformat(),
                "orbit_direction": acquisition.orbit_direction,
                "cloud_cover": acquisition.cloud_cover,
                "coverage": round(acquisition.coverage, 4),
                "products": [product.product_id for product in acquisition.products],
            }
            for acquisition in result.acquisitions
        ],
        "pairs": [
            {
                "s1": pair.s1.name,
                "s2": pair.s2.name,
                "days_apart": round(pair.days_apart, 3),
                "coverage": round(pair.coverage, 4),
                "score": round(pair.score, 4),
            }
            for pair in result.pairs
        ],
    }


class AoiArea:
    """Fractions of an AOI's area, measured in its UTM zone rather than in degrees."""

    def __init__(self, aoi: BaseGeometry) -> None:
        self.crs = utm_crs_of(aoi)
        self.aoi = reproject_geometry(aoi, LONLAT, self.crs)

    def covered_by(self, footprint: BaseGeometry) -> float:
        """Fraction of the AOI inside ``footprint`` (lon/lat)."""
        if footprint.is_empty or self.aoi.area == 0:
            return 0.0
        projected = reproject_geometry(footprint, LONLAT, self.crs)
        return float(self.aoi.intersection(projected).area / self.aoi.area)


def _product(feature: dict[str, Any], mission: str, area: AoiArea) -> Product:
    properties = feature["properties"]
    footprint = shape(feature["geometry"])
    cloud = properties.get("eo:cloud_cover")
    return Product(
        product_id=feature["id"],
        mission=mission,
        time=datetime.fromisoformat(properties["datetime"].replace("Z", "+00:00")),
        orbit_direction=properties.get("sat:orbit_state"),
        cloud_cover=None if cloud is None else float(cloud),
        footprint=footprint,
        coverage=area.covered_by(footprint),
    )
