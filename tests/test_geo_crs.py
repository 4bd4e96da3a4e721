from __future__ import annotations

import pytest
from rasterio.crs import CRS
from shapely.geometry import box

from geocolor.errors import UsageError
from geocolor.geo.crs import named_or_utm_crs, parse_crs, utm_crs_of

# a lon/lat box straddling two UTM zones (the 12 E boundary), its centroid in 32N
STRADDLING = box(11.0, 45.0, 12.6, 45.5)


@pytest.mark.parametrize(
    "text", ["EPSG:32633", "urn:ogc:def:crs:EPSG::32633", "+proj=utm +zone=33 +datum=WGS84"]
)
def test_every_spelling_of_a_crs_parses_to_it(text: str) -> None:
    assert parse_crs(text) == CRS.from_epsg(32633)


def test_a_bad_crs_is_one_line_naming_where_it_was_written() -> None:
    with pytest.raises(UsageError) as raised:
        parse_crs("EPSG:999999", "--crs")
    message = str(raised.value)
    assert message == "--crs 'EPSG:999999' is not a coordinate reference system"
    assert raised.value.exit_code == 2


def test_utm_zone_is_the_one_of_the_area_centroid() -> None:
    assert utm_crs_of(STRADDLING) == CRS.from_epsg(32632)
    assert utm_crs_of(box(151.0, -34.0, 151.4, -33.8)) == CRS.from_epsg(32756)


def test_a_named_crs_wins_over_the_utm_zone() -> None:
    assert named_or_utm_crs("EPSG:3857", STRADDLING) == CRS.from_epsg(3857)
    assert named_or_utm_crs(None, STRADDLING) == utm_crs_of(STRADDLING)
    with pytest.raises(UsageError, match=r"^crs 'nonsense' is not"):
        named_or_utm_crs("nonsense", STRADDLING)
