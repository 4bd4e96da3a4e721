"""Range-Doppler terrain correction: geometry against the synthetic scene's own truth."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from shapely.geometry import box

from geocolor.cli import main
from geocolor.colorize.readers import ArrayReader, scene_reader
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.s1.backscatter import S1Config, backscatter, target_grid
from geocolor.s1.dem import ELLIPSOIDAL, heights, open_dem
from geocolor.s1.safe import open_safe
from geocolor.s1.terrain import TerrainLocator, map_to_radar, terrain_correct
from tests.terrain_factory import grid_at_scene_centre, ridge, write_dem

LAYOUT = SceneLayout(lines=400, samples=500)
SIZE = 160


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(
        tmp_path_factory.mktemp("gtc"), layout=LAYOUT, polarisations=("VV",), seed=4
    )


@pytest.fixture(scope="module")
def grid() -> Grid:
    return grid_at_scene_centre(LAYOUT, SIZE)


def index_image() -> da.Array:
    """Band 0 holds each radar pixel's line, band 1 its pixel."""
    line, pixel = np.meshgrid(
        np.arange(LAYOUT.lines, dtype=np.float32),
        np.arange(LAYOUT.samples, dtype=np.float32),
        indexing="ij",
    )
    image: da.Array = da.from_array(np.stack([line, pixel]), chunks=(2, 128, 128))
    return image


def geocoded_indices(product: Path, grid: Grid, dem: Path, chunk: int = 1024) -> np.ndarray:
    locator = TerrainLocator(open_safe(product).radar_geometry(), open_dem(str(dem)), grid)
    result: np.ndarray = terrain_correct(index_image(), locator, chunk=chunk).compute()
    return result


def grid_lonlat(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.meshgrid(
        np.arange(grid.height) + 0.5, np.arange(grid.width) + 0.5, indexing="ij"
    )
    x, y = grid.pixel_to_map(rows, cols)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    return np.asarray(lon), np.asarray(lat)


def test_annotation_orbit_reproduces_the_scene_orbit(product: Path) -> None:
    orbit = open_safe(product).radar_geometry().orbit
    seconds = np.linspace(0.0, float(orbit.times[-1]) - 1.0, 37) + 0.37  # between vectors
    position, velocity, _ = orbit.state(seconds)
    offset = (orbit.epoch.replace(tzinfo=None) - LAYOUT.start_time) / timedelta(seconds=1)
    true_position, true_velocity = LAYOUT.orbit_state(seconds + offset)
    assert np.abs(position - true_position).max() < 0.01  # metres
    assert np.abs(velocity - true_velocity).max() < 1e-4


def test_flat_dem_geocodes_onto_the_scene_geometry(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    dem = write_dem(tmp_path / "flat.tif", grid, np.zeros(grid.shape))
    line, pixel = geocoded_indices(product, grid, dem)
    true_line, true_pixel = LAYOUT.radar_coordinates(*grid_lonlat(grid))
    assert np.isfinite(line).all()
    assert np.abs(line - true_line).max() < 0.01
    assert np.abs(pixel - true_pixel).max() < 0.01


def test_height_shifts_pixels_toward_near_range_by_h_over_tan_incidence(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    height = 500.0
    flat = geocoded_indices(
        product, grid, write_dem(tmp_path / "0.tif", grid, np.zeros(grid.shape))
    )
    raised = geocoded_indices(
        product, grid, write_dem(tmp_path / "h.tif", grid, np.full(grid.shape, height))
    )
    incidence = np.radians(LAYOUT.incidence_angle(raised[1]))
    expected = -height / np.tan(incidence) / LAYOUT.pixel_spacing
    assert np.allclose(raised[1] - flat[1], expected, rtol=0.03)
    assert np.abs(raised[0] - flat[0]).max() < 0.5


def test_terrain_correction_is_chunk_independent(product: Path, grid: Grid, tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 800.0))
    whole = geocoded_indices(product, grid, dem)
    chunked = geocoded_indices(product, grid, dem, chunk=48)
    assert np.array_equal(whole, chunked, equal_nan=True)


def test_grid_nodes_add_no_measurable_geometry_error(
    product: Path, grid: Grid, tmp_path: Path
) -> None:
    # chunks interpolate Earth-fixed points and first guesses between nodes every 16 px;
    # a direct solve at every pixel's own point must land where they do
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 800.0))
    line, pixel = geocoded_indices(product, grid, dem)
    height = heights(open_dem(str(dem)), grid, 0, 0, grid.shape)
    rows, cols = np.meshgrid(
        np.arange(grid.height) + 0.5, np.arange(grid.width) + 0.5, indexing="ij"
    )
    geometry = open_safe(product).radar_geometry()
    exact_line, exact_pixel = map_to_radar(geometry, grid, rows, cols, height)
    assert np.isfinite(line).all()
    assert np.abs(line - exact_line).max() < 1e-3
    assert np.abs(pixel - exact_pixel).max() < 1e-3


def test_backscatter_with_dem_tags_provenance(product: Path, grid: Grid, tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 800.0))
    reference = write_dem(tmp_path / "grid.tif", grid, np.zeros(grid.shape))
    config = S1Config(grid=str(reference), dem=str(dem), speckle="none")
    result = backscatter(open_safe(product), config)
    assert result.tags["dem"] == str(dem)
    assert result.tags["dem_height_reference"] == ELLIPSOIDAL
    assert result.tags["orbit_source"] == "annotation"
    image = result.image.compute()
    assert image.shape == (1, SIZE, SIZE) and np.isfinite(image).all()
    without = backscatter(open_safe(product), S1Config(grid=str(reference), speckle="none"))
    assert "dem" not in without.tags


def test_process_s1_with_dem(product: Path, grid: Grid, tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, 800.0))
    out = tmp_path / "gtc.tif"
    args = ["--quiet", "process-s1", str(product), "-o", str(out), "--grid", str(dem)]
    assert main([*args, "--dem", str(dem)]) == 0
    with rasterio.open(out) as src:
        assert (src.crs, src.transform, src.shape) == (grid.crs, grid.transform, grid.shape)
        assert src.tags()["dem"] == str(dem)
        data = src.read(1)
    assert np.isfinite(data).all() and -30 < np.median(data) < 0


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("partial", "the DEM does not cover 50.0% of the output grid"),
        ("no_crs", "the DEM has no CRS or geotransform"),
    ],
)
def test_process_s1_refuses_an_unusable_dem(
    product: Path,
    grid: Grid,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    if case == "partial":
        half = Grid(grid.crs, grid.transform, grid.width // 2, grid.height)
        dem = write_dem(tmp_path / "half.tif", half, np.zeros(half.shape))
    else:
        dem = write_dem(tmp_path / "bare.tif", grid, np.zeros(grid.shape), crs=None)
    reference = write_dem(tmp_path / "grid.tif", grid, np.zeros(grid.shape))
    out = tmp_path / "x.tif"
    assert (
        main(
            [
                "process-s1",
                str(product),
                "-o",
                str(out),
                "--grid",
                str(reference),
                "--dem",
                str(dem),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_dem_needs_a_map_grid(product: Path, grid: Grid, tmp_path: Path) -> None:
    dem = write_dem(tmp_path / "flat.tif", grid, np.zeros(grid.shape))
    with pytest.raises(GeocolorError, match="needs a map grid"):
        backscatter(open_safe(product), S1Config(grid="radar", dem=str(dem)))


def test_shifted_dem_grid_still_covers(product: Path, grid: Grid, tmp_path: Path) -> None:
    """A DEM on another grid (coarser, offset) covering the output is resampled, not refused."""
    coarse = Grid(
        grid.crs,
        grid.transform @ Affine.translation(-3.5, -3.5) @ Affine.scale(3),
        grid.width // 3 + 4,
        grid.height // 3 + 4,
    )
    dem = write_dem(tmp_path / "coarse.tif", coarse, np.full(coarse.shape, 250.0))
    line, pixel = geocoded_indices(product, grid, dem)
    assert np.isfinite(line).all() and np.isfinite(pixel).all()


def test_colorize_reads_a_safe_with_the_models_dem(product: Path, tmp_path: Path) -> None:
    """``colorize`` repeats the S1 settings a model records: its DEM included."""
    scene_grid = target_grid(open_safe(product), S1Config())
    assert scene_grid is not None
    dem = write_dem(tmp_path / "scene.tif", scene_grid, ridge(scene_grid, 800.0))
    centre = open_safe(product).footprint().centroid
    aoi = box(centre.x - 0.005, centre.y - 0.005, centre.x + 0.005, centre.y + 0.005)

    def read(processing: dict[str, object]) -> np.ndarray:
        with scene_reader(str(product), ["VV sigma0 dB"], processing, aoi=aoi) as reader:
            assert isinstance(reader, ArrayReader)
            return np.array(reader.array)

    with_dem = read({"speckle": "none", "dem": str(dem)})
    without = read({"speckle": "none"})
    assert with_dem.shape == without.shape and np.isfinite(with_dem).all()
    assert not np.allclose(with_dem, without)
    small = Grid(scene_grid.crs, scene_grid.transform, 8, 8)
    elsewhere = write_dem(tmp_path / "corner.tif", small, np.zeros(small.shape))
    with pytest.raises(GeocolorError, match="does not cover"):
        read({"dem": str(elsewhere)})
