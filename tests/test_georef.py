from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from shapely.geometry import Polygon

from geocolor.errors import GeocolorError
from geocolor.geo.crs import utm_crs_for
from geocolor.geo.grid import Grid, grid_covering
from geocolor.io.filesystems import grid_of_raster
from geocolor.s1.georeference import RadarLocator, warp_to_grid
from geocolor.s1.safe import GeolocationGrid

LINES, PIXELS = 900, 1300


def descending_geogrid(lines: int = LINES, pixels: int = PIXELS) -> GeolocationGrid:
    """A 10 x 21 geolocation grid like a descending IW pass: heading ~192 deg, 10 m pixels."""
    line, pixel = np.meshgrid(
        np.linspace(0, lines - 1, 10), np.linspace(0, pixels - 1, 21), indexing="ij"
    )
    heading = np.deg2rad(-12.0)
    along = line * 10.0
    across = pixel * 10.0 + 3e-5 * (pixel * 10.0) ** 1.6  # ground range is not linear
    north = -along * np.cos(heading) + across * np.sin(heading)
    east = -along * np.sin(heading) - across * np.cos(heading)
    lat = 45.3 + north / 111_000.0
    lon = 9.5 + east / (111_000.0 * np.cos(np.deg2rad(45.3)))
    return GeolocationGrid(
        line=line.ravel(),
        pixel=pixel.ravel(),
        lon=lon.ravel(),
        lat=lat.ravel(),
        height=np.zeros(line.size),
    )


def geogrid_footprint(geogrid: GeolocationGrid) -> Polygon:
    corners = []
    for line, pixel in [(0, 0), (0, PIXELS - 1), (LINES - 1, PIXELS - 1), (LINES - 1, 0)]:
        i = np.flatnonzero((geogrid.line == line) & (geogrid.pixel == pixel))[0]
        corners.append((geogrid.lon[i], geogrid.lat[i]))
    return Polygon(corners)


def index_images() -> da.Array:
    """Band 0 holds each pixel's line number, band 1 its pixel number."""
    line, pixel = np.meshgrid(
        np.arange(LINES, dtype=np.float32), np.arange(PIXELS, dtype=np.float32), indexing="ij"
    )
    return da.from_array(np.stack([line, pixel]), chunks=(2, 300, 300))


@pytest.fixture(scope="module")
def geogrid() -> GeolocationGrid:
    return descending_geogrid()


@pytest.fixture(scope="module")
def grid(geogrid: GeolocationGrid) -> Grid:
    return grid_covering(geogrid_footprint(geogrid), utm_crs_for(9.5, 45.3), 10.0)


def test_utm_zone() -> None:
    assert utm_crs_for(9.5, 45.3) == CRS.from_epsg(32632)
    assert utm_crs_for(-8.5, 53.0) == CRS.from_epsg(32629)
    assert utm_crs_for(151.2, -33.9) == CRS.from_epsg(32756)


def test_grid_covering_snaps_to_resolution(geogrid: GeolocationGrid, grid: Grid) -> None:
    assert grid.resolution == (10.0, 10.0)
    assert grid.transform.c % 10 == 0 and grid.transform.f % 10 == 0
    to_utm = Transformer.from_crs(4326, grid.crs, always_xy=True)
    x, y = to_utm.transform(geogrid.lon, geogrid.lat)
    left, bottom, right, top = grid.bounds
    assert (x >= left).all() and (x <= right).all() and (y >= bottom).all() and (y <= top).all()
    with pytest.raises(GeocolorError, match="resolution"):
        grid_covering(geogrid_footprint(geogrid), grid.crs, 0)


def test_warp_agrees_with_geolocation_grid(geogrid: GeolocationGrid, grid: Grid) -> None:
    warped = warp_to_grid(index_images(), geogrid, grid, chunk=256).compute()
    to_utm = Transformer.from_crs(4326, grid.crs, always_xy=True)
    x, y = to_utm.transform(geogrid.lon, geogrid.lat)
    cols, rows = ~grid.transform @ (x, y)
    rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
    inside = (rows < grid.height) & (cols < grid.width)
    # corners and centre of the scene, then every other GCP
    corner_or_centre = np.isin(geogrid.line, [0, LINES - 1]) & np.isin(
        geogrid.pixel, [0, PIXELS - 1]
    ) | ((geogrid.line == geogrid.line[geogrid.line.size // 2]) & (geogrid.pixel == 650))
    for selection in (corner_or_centre & inside, inside):
        line_at = warped[0, rows[selection], cols[selection]]
        pixel_at = warped[1, rows[selection], cols[selection]]
        valid = np.isfinite(line_at)
        assert valid.mean() > 0.7
        # one output pixel = 10 m = one radar pixel here
        assert np.abs(line_at[valid] - geogrid.line[selection][valid]).max() <= 1.0
        assert np.abs(pixel_at[valid] - geogrid.pixel[selection][valid]).max() <= 1.0


def test_warp_is_chunk_independent(geogrid: GeolocationGrid, grid: Grid) -> None:
    small = warp_to_grid(index_images(), geogrid, grid, chunk=192).compute()
    large = warp_to_grid(index_images(), geogrid, grid, chunk=4096).compute()
    np.testing.assert_array_equal(np.isnan(small), np.isnan(large))
    np.testing.assert_allclose(small, large, atol=1e-3, equal_nan=True)


def test_outside_scene_is_nan_and_locator_inverts(geogrid: GeolocationGrid, grid: Grid) -> None:
    warped = warp_to_grid(index_images(), geogrid, grid, chunk=256).compute()
    assert np.isnan(warped[:, 0, 0]).all()  # the rotated scene leaves the grid corners empty
    locator = RadarLocator(geogrid, grid)
    to_utm = Transformer.from_crs(4326, grid.crs, always_xy=True)
    x, y = to_utm.transform(geogrid.lon, geogrid.lat)
    line_pixel = locator.line_pixel(x, y)
    np.testing.assert_allclose(line_pixel[:, 0], geogrid.line, atol=1e-6)
    np.testing.assert_allclose(line_pixel[:, 1], geogrid.pixel, atol=1e-6)


def test_grid_of_reference_raster(tmp_path: Path) -> None:
    path = tmp_path / "ref.tif"
    transform = Affine(20.0, 0, 500_000.0, 0, -20.0, 5_000_000.0)
    profile = {"driver": "GTiff", "width": 30, "height": 20, "count": 1, "dtype": "uint8"}
    with rasterio.open(path, "w", crs="EPSG:32632", transform=transform, **profile) as dst:
        dst.write(np.zeros((1, 20, 30), np.uint8))
    assert grid_of_raster(str(path)) == Grid(CRS.from_epsg(32632), transform, 30, 20)
    with pytest.raises(GeocolorError, match="cannot open reference raster"):
        grid_of_raster(str(tmp_path / "missing.tif"))
