"""What an L2A product is made of: band names, SCL codes, self-description, band files.

Both metadata readers (:mod:`geocolor.s2.safe_metadata` for SAFE products,
:mod:`geocolor.s2.band_files` for plain band-file folders) return a
:class:`ProductParts`, and :func:`geocolor.s2.product.open_s2` builds the product from
it, so neither reader depends on the product class.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum

from rasterio.crs import CRS
from shapely.geometry import Polygon

from geocolor.geo.grid import Grid
from geocolor.s2.archive import Raster

__all__ = [
    "BAND_ORDER",
    "DEFAULT_MASKED",
    "SCL",
    "TILE_IN_NAME",
    "BandFile",
    "ProductParts",
    "S2Info",
    "SCLClass",
]


class SCLClass(IntEnum):
    """Scene-classification (SCL) codes of the L2A product."""

    NO_DATA = 0
    SATURATED_OR_DEFECTIVE = 1
    DARK_AREA = 2
    CLOUD_SHADOW = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    CLOUD_MEDIUM_PROBABILITY = 8
    CLOUD_HIGH_PROBABILITY = 9
    THIN_CIRRUS = 10
    SNOW = 11


DEFAULT_MASKED: frozenset[int] = frozenset(
    {
        SCLClass.NO_DATA,
        SCLClass.SATURATED_OR_DEFECTIVE,
        SCLClass.CLOUD_SHADOW,
        SCLClass.CLOUD_MEDIUM_PROBABILITY,
        SCLClass.CLOUD_HIGH_PROBABILITY,
        SCLClass.THIN_CIRRUS,
        SCLClass.SNOW,
    }
)

# spectral bands in wavelength order, as named in L2A file names
BAND_ORDER = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
SCL = "SCL"

# the MGRS tile in a product, tile or band file name: ``..._T29UNU_...``
TILE_IN_NAME = re.compile(r"(?:^|_)T(\d{2}[A-Z]{3})(?:_|$)")


@dataclass(frozen=True)
class S2Info:
    """What a product says about itself; ``None`` where plain band files cannot say.

    ``offsets`` maps band names (``"B02"``) to the additive DN offset applied before
    dividing by ``quantification_value``.
    """

    product_id: str
    spacecraft: str | None
    sensing_time: datetime | None
    processing_baseline: str | None
    tile_id: str | None
    crs: CRS
    cloud_cover_percent: float | None
    offsets: Mapping[str, float]
    quantification_value: float


@dataclass(frozen=True)
class BandFile:
    """A band raster and how its stored values become reflectance."""

    raster: Raster
    offset: float
    quantification: float
    nodata: float | None


@dataclass(frozen=True)
class ProductParts:
    """Everything a metadata reader found, keyed by (band, resolution in metres).

    ``missing`` names the files the metadata lists but the product lacks, so asking
    for such a band can say so rather than only that it is absent.
    """

    info: S2Info
    files: Mapping[tuple[str, int], BandFile]
    grids: Mapping[int, Grid]
    footprint: Polygon | None
    missing: Mapping[tuple[str, int], str] = field(default_factory=dict)
