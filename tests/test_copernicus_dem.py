"""``dem: copernicus`` from a local fake bucket, and geoid heights turned ellipsoidal."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rasterio
from pyproj import CRS, Transformer, datadir
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.s1.copernicus_dem import CACHE_ENV, URL_ENV, copernicus_dem, tile_name, tiles_over
from geocolor.s1.dem import ELLIPSOIDAL, height_range, heights, open_dem
from geocolor.s1.geoid import geoid_of
from tests.servers import serving
from tests.terrain_factory import write_dem

# EGM96 geoid undulation at 45N 6E: 52.18 m in GeographicLib's 5' EGM96 grid (as the
# egm96 package bundles it), 52.1796 m in PROJ's 15' grid (us_nga_egm96_15)
EGM96_AT_45N_6E = 52.18
TILE_PIXELS = 60  # fake tiles: 1 arc-minute, the real ones are 1 arc-second


def _egm96_grid_installed() -> bool:
    try:
        geoid_of(CRS("EPSG:4326+5773").to_wkt(), "probe")
    except GeocolorError:
        return False
    return True


pytestmark = pytest.mark.skipif(
    not _egm96_grid_installed() and os.environ.get("CI") != "true",
    reason="PROJ's EGM96 geoid grid is not installed (Debian: apt-get install proj-data)",
)


def fake_tile(lat: int, lon: int, height: float) -> bytes:
    """A GLO-30-like tile: 1° with pixel centres on the corner, EGM2008 heights."""
    res = 1.0 / TILE_PIXELS
    profile = {
        "driver": "GTiff",
        "width": TILE_PIXELS,
        "height": TILE_PIXELS,
        "count": 1,
        "dtype": "float32",
        "crs": "EPSG:4326",
        "transform": from_origin(lon - res / 2, lat + 1 + res / 2, res, res),
    }
    with rasterio.MemoryFile() as memory:
        with memory.open(**profile) as dst:
            dst.write(np.full((1, TILE_PIXELS, TILE_PIXELS), height, np.float32))
        return bytes(memory.read())


class _Bucket(BaseHTTPRequestHandler):
    state: Any

    def do_GET(self) -> None:
        self.state.requested.append(self.path)
        body = self.state.files.get(self.path)
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if self.state.truncate else body)

    def log_message(self, *args: object) -> None:
        """Silent."""


def bucket_path(lat: int, lon: int) -> str:
    name = tile_name(lat, lon)
    return f"/{name}/{name}.tif"


@pytest.fixture
def bucket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Tiles N45 E009 (100 m), N45 E010 (200 m), N46 E009 (300 m); N46 E010 is sea."""
    files = {
        bucket_path(45, 9): fake_tile(45, 9, 100.0),
        bucket_path(45, 10): fake_tile(45, 10, 200.0),
        bucket_path(46, 9): fake_tile(46, 9, 300.0),
    }
    state = SimpleNamespace(files=files, requested=[], truncate=False)
    with serving(_Bucket, state):
        monkeypatch.setenv(URL_ENV, state.base_url + "/")
        monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
        yield state


def lonlat_grid(west: float, north: float, size: int, step: float) -> Grid:
    return Grid(rasterio.crs.CRS.from_epsg(4326), from_origin(west, north, step, step), size, size)


def test_tile_names_follow_the_bucket() -> None:
    assert tile_name(45, 6) == "Copernicus_DSM_COG_10_N45_00_E006_00_DEM"
    assert tile_name(-1, 30) == "Copernicus_DSM_COG_10_S01_00_E030_00_DEM"
    assert tile_name(-13, -77) == "Copernicus_DSM_COG_10_S13_00_W077_00_DEM"
    # a footprint meets the cells it crosses, not all those of its bounding box
    triangle = Polygon([(9.6, 45.5), (10.5, 45.5), (10.5, 46.4)])
    assert tiles_over(triangle, margin=0.0) == [
        tile_name(45, 9),
        tile_name(45, 10),
        tile_name(46, 10),
    ]
    assert tile_name(46, 9) in tiles_over(triangle, margin=0.2)
    across = Polygon([(179.8, 10.2), (-179.8, 10.2), (-179.8, 10.4), (179.8, 10.4)])
    with pytest.raises(GeocolorError, match="crosses the antimeridian"):
        tiles_over(across)


def test_mosaic_fetches_caches_and_takes_absent_tiles_as_sea_level(
    bucket: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    footprint = box(9.8, 45.8, 10.2, 46.2)
    dem = copernicus_dem(footprint)
    assert sorted(bucket.requested) == sorted(
        bucket_path(lat, lon) for lat in (45, 46) for lon in (9, 10)
    )
    assert "1 of 4 tiles absent" in capsys.readouterr().err
    assert "absent and taken as sea level: 1" in dem.source and bucket.base_url in dem.source
    assert dem.height_reference.startswith("EGM2008 height -> WGS84 ellipsoid")
    # on a grid as fine as the tiles, the middle pixel of each cell
    grid = lonlat_grid(9.0, 47.0, 2 * TILE_PIXELS, 1.0 / TILE_PIXELS)
    index = [TILE_PIXELS // 2, 3 * TILE_PIXELS // 2]
    middle = np.ix_(index, index)
    found = heights(dem, grid, 0, 0, grid.shape)[middle]
    assert dem.geoid is not None
    centres = (np.array([0, TILE_PIXELS]) + TILE_PIXELS // 2 + 0.5) / TILE_PIXELS
    lon, lat = np.meshgrid(9.0 + centres, 47.0 - centres)
    undulation = dem.geoid.undulation(lon, lat)
    assert np.allclose(found - undulation, [[300.0, 0.0], [100.0, 200.0]], atol=0.01)
    assert 40 < undulation.min() < undulation.max() < 60  # the geoid over northern Italy
    # cached: the second mosaic asks only for the sea tile again
    bucket.requested.clear()
    again = copernicus_dem(footprint)
    assert bucket.requested == [bucket_path(46, 10)]
    assert np.array_equal(heights(again, grid, 0, 0, grid.shape)[middle], found)


def test_an_interrupted_download_is_not_cached(bucket: Any, tmp_path: Path) -> None:
    footprint = box(9.4, 45.4, 9.6, 45.6)
    bucket.truncate = True
    with pytest.raises(GeocolorError, match="download failed, nothing kept"):
        copernicus_dem(footprint)
    assert not list((tmp_path / "cache").glob("*.tif*"))
    bucket.truncate = False
    assert copernicus_dem(footprint).source.endswith("(tiles: 1)")
    assert (tmp_path / "cache" / f"{tile_name(45, 9)}.tif").is_file()


def test_output_beyond_the_mosaic_is_still_refused(bucket: Any) -> None:
    dem = copernicus_dem(box(9.4, 45.4, 9.6, 45.6))  # the N45 E009 cell only
    half_outside = lonlat_grid(9.5, 46.0, 20, 0.05)  # lon 9.5..10.5, lat 45..46
    with pytest.raises(
        GeocolorError, match=r"does not cover ([\d.]+)% of the output grid"
    ) as error:
        height_range(dem, half_outside)
    # half the grid, less the coarse cells the mosaic's half-pixel border reaches into
    uncovered = float(re.search(r"([\d.]+)%", str(error.value)).group(1))  # type: ignore[union-attr]
    assert 40 <= uncovered <= 50


def test_geoid_heights_become_ellipsoidal_by_the_undulation(tmp_path: Path) -> None:
    """A DEM tagged with EGM96 heights reads higher by EGM96's undulation at 45N 6E."""
    grid = lonlat_grid(5.95, 45.05, 11, 0.01)  # pixel (5, 5) centred on 45N 6E
    values = np.full(grid.shape, 1000.0)
    plain = open_dem(str(write_dem(tmp_path / "plain.tif", grid, values, crs="EPSG:4326")))
    egm96 = open_dem(str(write_dem(tmp_path / "egm96.tif", grid, values, crs="EPSG:4326+5773")))
    assert plain.height_reference == ELLIPSOIDAL and plain.geoid is None
    assert egm96.height_reference == (
        "EGM96 height -> WGS84 ellipsoid via PROJ grid us_nga_egm96_15.tif"
    )
    difference = heights(egm96, grid, 0, 0, grid.shape) - heights(plain, grid, 0, 0, grid.shape)
    assert abs(difference[5, 5] - EGM96_AT_45N_6E) < 0.05
    egm2008 = open_dem(str(write_dem(tmp_path / "egm08.tif", grid, values, crs="EPSG:4326+3855")))
    assert egm2008.height_reference.startswith("EGM2008 height -> WGS84 ellipsoid via")
    difference = heights(egm2008, grid, 0, 0, grid.shape) - heights(plain, grid, 0, 0, grid.shape)
    assert abs(difference[5, 5] - EGM96_AT_45N_6E) < 2.0  # EGM2008 and EGM96 agree to ~1 m


def test_egm2008_heights_use_the_egm2008_grid_where_installed(tmp_path: Path) -> None:
    """With PROJ's EGM2008 grid found (here a fake one, 10 m everywhere) it is used."""
    with rasterio.open(
        tmp_path / "us_nga_egm08_25.tif",
        "w",
        driver="GTiff",
        width=361,
        height=181,
        count=1,
        dtype="float32",
        crs="EPSG:4326",
        transform=from_origin(-180.5, 90.5, 1, 1),
    ) as dst:
        dst.write(np.full((1, 181, 361), 10.0, np.float32))
    before = datadir.get_data_dir()
    datadir.append_data_dir(str(tmp_path))
    try:
        geoid = geoid_of(CRS("EPSG:4326+3855").to_wkt(), "egm2008")
        assert geoid is not None
        assert geoid.description == (
            "EGM2008 height -> WGS84 ellipsoid via PROJ grid us_nga_egm08_25.tif"
        )
        assert np.allclose(geoid.undulation(np.array([6.0, -70.0]), np.array([45.0, -33.0])), 10.0)
    finally:
        datadir.set_data_dir(before)


def test_a_vertical_datum_without_its_grid_is_one_line(tmp_path: Path) -> None:
    grid = lonlat_grid(6.0, 45.0, 4, 0.01)
    egm84 = write_dem(tmp_path / "egm84.tif", grid, np.zeros(grid.shape), crs="EPSG:4326+5798")
    with pytest.raises(GeocolorError, match=r"heights above EGM84 height need PROJ's \S+ \("):
        open_dem(str(egm84))


@pytest.mark.parametrize("given", ["option", "config"])
def test_process_s1_with_copernicus_dem(bucket: Any, tmp_path: Path, given: str) -> None:
    """The scene's cell is fetched; the grid reaching into the next cell is still covered."""
    layout = SceneLayout(lines=400, samples=500)  # lies in the N45 E009 cell
    product = write_synthetic_s1(tmp_path, layout=layout, polarisations=("VV",), seed=4)
    wide = lonlat_grid(9.3, 45.5, 100, 0.01)  # lon 9.3..10.3
    reference = write_dem(tmp_path / "grid.tif", wide, np.zeros(wide.shape), crs="EPSG:4326")
    out = tmp_path / "gtc.tif"
    args = ["--quiet", "process-s1", str(product), "-o", str(out), "--speckle", "none"]
    if given == "option":
        args += ["--dem", "copernicus"]
    else:
        config = tmp_path / "process-s1.yaml"
        config.write_text("dem: copernicus\n")
        args += ["--config", str(config)]
    assert main([*args, "--grid", str(reference)]) == 0
    assert bucket.requested == [bucket_path(45, 9)]
    with rasterio.open(out) as src:
        tags = src.tags()
        data = src.read(1)
    assert tags["dem"] == f"copernicus GLO-30 {bucket.base_url}/ (tiles: 1)"
    assert tags["dem_height_reference"].startswith("EGM2008 height -> WGS84 ellipsoid")
    assert 0 < np.isfinite(data).sum() < data.size / 10  # the scene, a few km across


@pytest.mark.parametrize(
    "grid",
    [
        Grid(rasterio.crs.CRS.from_epsg(32632), from_origin(520000, 5080000, 10, 10), 700, 500),
        lonlat_grid(6.0, 46.0, 90, 1.0 / 60),
    ],
    ids=["utm-10m", "lonlat-1arcmin"],
)
def test_undulation_between_knots_matches_every_pixel(grid: Grid) -> None:
    geoid = geoid_of(CRS("EPSG:4326+5773").to_wkt(), "egm96")
    assert geoid is not None
    rows, cols = np.meshgrid(
        np.arange(grid.height) + 0.5, np.arange(grid.width) + 0.5, indexing="ij"
    )
    x, y = grid.pixel_to_map(rows, cols)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    exact = geoid.undulation(np.asarray(lon), np.asarray(lat))
    fast = geoid.undulation_on(grid.crs, grid.transform, grid.shape)
    assert np.abs(fast - exact).max() < 0.01
