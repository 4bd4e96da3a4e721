"""Radiometric terrain flattening (Small 2011) and the layover/shadow mask, against physics.

The synthetic scene's own geometry (:class:`geocolor.demo.landcover.SceneLayout`) is the
truth: its incidence angle and its range direction on the ground.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import UsageError
from geocolor.geo.grid import Grid
from geocolor.s1.backscatter import TERRAIN_TAGS, S1Config, backscatter
from geocolor.s1.dem import open_dem
from geocolor.s1.raster import match_bands
from geocolor.s1.safe import open_safe
from geocolor.s1.terrain import TerrainLocator
from geocolor.s1.terrain_flattening import (
    LAYOVER,
    RTC_PROVENANCE,
    SHADOW,
    flattening_for,
    flattening_layers,
)
from tests.terrain_factory import UTM, grid_at_scene_centre, ridge, write_dem

LAYOUT = SceneLayout(lines=400, samples=500)
SIZE = 160
# DEM pixels beyond the output grid on each side, so its edge sees real terrain
BORDER = 40


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(
        tmp_path_factory.mktemp("rtc"), layout=LAYOUT, polarisations=("VV",), seed=5
    )


@pytest.fixture(scope="module")
def grid() -> Grid:
    return grid_at_scene_centre(LAYOUT, SIZE)


def dem_grid(grid: Grid) -> Grid:
    return Grid(
        grid.crs,
        grid.transform @ Affine.translation(-BORDER, -BORDER),
        grid.width + 2 * BORDER,
        grid.height + 2 * BORDER,
    )


def range_direction(grid: Grid) -> tuple[float, float]:
    """Unit map vector along increasing ground range (away from the sensor) mid-scene."""
    line, sample = (LAYOUT.lines - 1) / 2.0, (LAYOUT.samples - 1) / 2.0
    lon, lat = LAYOUT.lonlat(np.array([line, line]), np.array([sample, sample + 50.0]))
    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(lon, lat)
    step = np.array([x[1] - x[0], y[1] - y[0]])
    ux, uy = step / np.hypot(*step)
    return float(ux), float(uy)


def along_range(grid: Grid) -> np.ndarray:
    """Metres along the range direction of each pixel centre from the grid's centre."""
    ux, uy = range_direction(grid)
    rows, cols = np.meshgrid(
        np.arange(grid.height) + 0.5, np.arange(grid.width) + 0.5, indexing="ij"
    )
    x, y = grid.pixel_to_map(rows, cols)
    cx, cy = grid.pixel_to_map(np.array(grid.height / 2), np.array(grid.width / 2))
    metres: np.ndarray = (x - cx) * ux + (y - cy) * uy
    return metres


def ground_incidence(grid: Grid) -> np.ndarray:
    """The scene's ellipsoid incidence (radians) at each pixel centre of ``grid``."""
    rows, cols = np.meshgrid(
        np.arange(grid.height) + 0.5, np.arange(grid.width) + 0.5, indexing="ij"
    )
    x, y = grid.pixel_to_map(rows, cols)
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    _, pixel = LAYOUT.radar_coordinates(np.asarray(lon), np.asarray(lat))
    return np.radians(LAYOUT.incidence_angle(pixel))


def linear(
    product: Path, grid: Path, dem: Path, measure: Literal["gamma0", "gamma0-rtc"]
) -> np.ndarray:
    config = S1Config(
        measure=measure,
        denoise=False,
        speckle="none",
        db=False,
        grid=str(grid),
        dem=str(dem),
    )
    image: np.ndarray = backscatter(open_safe(product), config).image.compute()[0]
    return image


def db_ratio(product: Path, grid: Grid, heights: np.ndarray, tmp_path: Path) -> np.ndarray:
    """10 log10 of gamma0-rtc over ellipsoid gamma0, on ``grid`` over DEM ``heights``."""
    dem = write_dem(tmp_path / "dem.tif", dem_grid(grid), heights)
    reference = write_dem(tmp_path / "grid.tif", grid, np.zeros(grid.shape))
    flattened = linear(product, reference, dem, "gamma0-rtc")
    ellipsoid = linear(product, reference, dem, "gamma0")
    ratio: np.ndarray = 10.0 * np.log10(flattened / ellipsoid)
    return ratio


def test_flat_terrain_gives_ellipsoid_gamma0(product: Path, grid: Grid, tmp_path: Path) -> None:
    """On flat ground the illuminated area is the ellipsoid's: γ⁰_T = σ⁰ / cos θ."""
    ratio = db_ratio(product, grid, np.full(dem_grid(grid).shape, 200.0), tmp_path)
    assert np.isfinite(ratio).all()
    assert np.abs(ratio).max() < 0.05


def test_tilted_plane_matches_the_projected_area_ratio(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    """A plane of slope α facing the radar: γ⁰_T / γ⁰_ellipsoid = tan(θ - α) / tan θ."""
    slope = np.radians(15.0)
    heights = 300.0 + np.tan(slope) * along_range(dem_grid(grid))
    ratio = db_ratio(product, grid, heights, tmp_path)
    incidence = ground_incidence(grid)
    expected = 10.0 * np.log10(np.tan(incidence - slope) / np.tan(incidence))
    assert np.median(expected) < -2.0  # a strong effect to match
    assert np.abs(ratio - expected).max() < 0.1


def test_mask_flags_layover_and_shadow_slopes(product: Path, grid: Grid, tmp_path: Path) -> None:
    """Slopes towards the radar steeper than θ are layover; away beyond 90° - θ, shadow."""
    heights = ridge(grid, 900.0, width=500.0).astype(np.float64)
    dem = write_dem(tmp_path / "steep.tif", grid, heights)
    locator = TerrainLocator(open_safe(product).radar_geometry(), open_dem(str(dem)), grid)
    codes = flattening_layers(flattening_for(locator), 1024).compute()[1]
    down, across = np.gradient(heights, -grid.resolution[1], grid.resolution[0])
    ux, uy = range_direction(grid)
    # positive: rising away from the sensor, i.e. facing it
    slope = np.arctan(across * ux + down * uy)
    incidence = ground_incidence(grid)
    layover, shadow = slope > incidence, slope < incidence - np.pi / 2
    clear = np.abs(np.degrees(slope - incidence)) > 3.0
    clear &= np.abs(np.degrees(slope - incidence + np.pi / 2)) > 3.0
    assert layover.sum() > 500 and shadow.sum() > 500
    assert np.array_equal((codes[clear] == LAYOVER), layover[clear])
    assert np.array_equal((codes[clear] == SHADOW), shadow[clear])


def test_flattening_is_chunk_independent(product: Path, grid: Grid, tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 600.0))
    locator = TerrainLocator(open_safe(product).radar_geometry(), open_dem(str(dem)), grid)
    flattening = flattening_for(locator)
    whole = flattening_layers(flattening, 1024).compute()
    chunked = flattening_layers(flattening, 64).compute()
    assert np.allclose(whole, chunked, rtol=1e-6, equal_nan=True)


def test_flattening_is_recorded_with_the_terrain_provenance(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    """The store's ``s1_terrain_correction`` attributes are the tags in TERRAIN_TAGS."""
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 600.0))
    config = S1Config(measure="gamma0-rtc", grid=str(dem), dem=str(dem), speckle="none")
    result = backscatter(open_safe(product), config)
    assert {key: result.tags[key] for key in TERRAIN_TAGS} == {
        "dem": str(dem),
        "dem_height_reference": result.tags["dem_height_reference"],
        "radiometric_terrain_correction": RTC_PROVENANCE,
    }
    assert result.descriptions == ("VV gamma0-rtc dB",) and result.mask is None
    plain = backscatter(open_safe(product), config.model_copy(update={"measure": "gamma0"}))
    assert "radiometric_terrain_correction" not in plain.tags


def test_flattening_needs_a_dem(product: Path) -> None:
    with pytest.raises(UsageError, match="gamma0-rtc needs a DEM"):
        backscatter(open_safe(product), S1Config(measure="gamma0-rtc"))
    with pytest.raises(UsageError, match="layover/shadow mask needs a DEM"):
        backscatter(open_safe(product), S1Config(layover_shadow_mask=True))


def test_process_s1_writes_flattened_gamma_and_the_mask(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 800.0))
    out = tmp_path / "rtc.tif"
    args = ["--quiet", "process-s1", str(product), "-o", str(out), "--grid", str(dem)]
    options = ["--dem", str(dem), "--measure", "gamma0-rtc", "--layover-shadow-mask"]
    assert main([*args, *options]) == 0
    with rasterio.open(out) as src:
        tags = src.tags()
        assert src.count == 2
        assert src.descriptions[0] == "VV gamma0-rtc dB"
        assert src.descriptions[1].startswith("layover_shadow_mask (0 neither, 1 layover")
        gamma, codes = src.read(1), src.read(2)
    assert tags["radiometric_terrain_correction"] == RTC_PROVENANCE
    assert "1 layover" in tags["layover_shadow_mask"]
    assert set(np.unique(codes)) <= {0.0, LAYOVER, SHADOW} and (codes == LAYOVER).any()
    assert np.isfinite(gamma[codes == 0]).all() and -30 < np.median(gamma) < 5
    # reading the COG back as backscatter (colorize, prepare) skips the mask band
    with rasterio.open(out) as src:
        descriptions = tuple(src.descriptions)
    config = S1Config(measure="gamma0-rtc")
    assert match_bands(descriptions, config, str(out)) == [(1, "VV gamma0-rtc dB")]
