"""The one crop rule (geo.grid.crop_to_area): whole, aligned pixels covering the area."""

from __future__ import annotations

import math

import pytest
from affine import Affine
from rasterio.crs import CRS
from shapely.geometry import box

from geocolor.geo.grid import LONLAT, Grid, crop_to_area, pixel_bounds, reproject_geometry

UTM = CRS.from_epsg(32631)
GRID = Grid(UTM, Affine(10, 0, 500_000, 0, -10, 5_000_000), 300, 200)


def lonlat(left: float, bottom: float, right: float, top: float) -> object:
    return reproject_geometry(box(left, bottom, right, top), UTM, LONLAT)


@pytest.mark.parametrize(
    "area",
    [
        (500_503, 4_998_507, 501_234, 4_999_871),
        (500_000, 4_998_000, 503_000, 5_000_000),
        (501_111, 4_999_001, 501_112, 4_999_002),
    ],
)
def test_crop_is_aligned_covers_the_area_and_is_idempotent(area: tuple[float, ...]) -> None:
    crop = crop_to_area(GRID, lonlat(*area))
    assert crop is not None
    col, row = ~GRID.transform @ (crop.transform.c, crop.transform.f)
    assert col == round(col) and row == round(row)
    assert crop.transform.a == GRID.transform.a and crop.transform.e == GRID.transform.e
    col0, row0, col1, row1 = pixel_bounds(crop, lonlat(*area))
    assert col0 > -0.05 and row0 > -0.05
    assert col1 < crop.width + 0.05 and row1 < crop.height + 0.05
    assert crop_to_area(GRID, crop.footprint_lonlat()) == crop


def test_a_box_on_pixel_edges_comes_back_exactly_after_a_round_trip_through_lonlat() -> None:
    crop = crop_to_area(GRID, lonlat(501_000, 4_998_500, 502_000, 4_999_500))
    assert crop == Grid(UTM, Affine(10, 0, 501_000, 0, -10, 4_999_500), 100, 100)


def test_crop_is_clipped_to_the_grid_and_none_outside_it() -> None:
    crop = crop_to_area(GRID, lonlat(502_000, 4_997_000, 505_000, 4_999_000))
    assert crop == Grid(UTM, Affine(10, 0, 502_000, 0, -10, 4_999_000), 100, 100)
    assert crop_to_area(GRID, lonlat(510_000, 4_990_000, 511_000, 4_991_000)) is None


def test_pixel_bounds_are_fractional_pixels() -> None:
    col0, row0, col1, row1 = pixel_bounds(GRID, lonlat(500_505, 4_999_000, 500_525, 4_999_955))
    assert (col0, row0, col1, row1) == pytest.approx((50.5, 4.5, 52.5, 100), abs=0.02)
    assert math.isclose(col1 - col0, 2, abs_tol=0.02)
