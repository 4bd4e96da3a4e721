"""Terrain correction against an orbit file's state vectors instead of the annotation's."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.orbit_file import write_orbit_file
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.geo.grid import Grid
from geocolor.s1.dem import open_dem
from geocolor.s1.orbit_file import orbit_for_product
from geocolor.s1.safe import open_safe
from geocolor.s1.terrain import TerrainLocator, terrain_correct
from tests.terrain_factory import grid_at_scene_centre, ridge, write_dem

LAYOUT = SceneLayout(lines=400, samples=500)
SIZE = 160


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(
        tmp_path_factory.mktemp("orbit"), layout=LAYOUT, polarisations=("VV",), seed=5
    )


@pytest.fixture(scope="module")
def grid() -> Grid:
    return grid_at_scene_centre(LAYOUT, SIZE)


@pytest.fixture(scope="module")
def dem(grid: Grid, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dem(tmp_path_factory.mktemp("dem") / "ridge.tif", grid, ridge(grid, 800.0))


def geocoded_indices(product: Path, grid: Grid, dem: Path, eof: Path | None) -> np.ndarray:
    """(line, pixel) of each grid pixel, geocoded with the annotation's or ``eof``'s orbit."""
    safe = open_safe(product)
    geometry = safe.radar_geometry()
    if eof is not None:
        info = safe.info
        vectors = orbit_for_product(eof, info.mission, info.start_time, info.stop_time)
        geometry = replace(geometry, orbit=vectors.orbit(geometry.orbit.epoch))
    line, pixel = np.meshgrid(
        np.arange(LAYOUT.lines, dtype=np.float32),
        np.arange(LAYOUT.samples, dtype=np.float32),
        indexing="ij",
    )
    image = da.from_array(np.stack([line, pixel]), chunks=(2, 128, 128))
    locator = TerrainLocator(geometry, open_dem(str(dem)), grid)
    result: np.ndarray = terrain_correct(image, locator, chunk=64).compute()
    return result


def test_an_orbit_file_of_the_same_orbit_gives_the_same_geometry(
    product: Path, grid: Grid, dem: Path, tmp_path: Path
) -> None:
    # the file's vectors fall on whole seconds, the annotation's on the first line's time
    eof = write_orbit_file(tmp_path, LAYOUT)
    annotation = geocoded_indices(product, grid, dem, None)
    precise = geocoded_indices(product, grid, dem, eof)
    assert np.isfinite(annotation).all() and np.isfinite(precise).all()
    assert np.abs(precise - annotation).max() < 1e-3  # image pixels


def test_an_along_track_orbit_error_moves_the_lines_by_its_time(
    product: Path, grid: Grid, dem: Path, tmp_path: Path
) -> None:
    # a satellite 20 ms ahead (about 150 m of its track) reaches each zero-Doppler
    # plane 20 ms early by the file's clock: every point comes 20 ms earlier in azimuth
    lead = timedelta(milliseconds=20)
    eof = write_orbit_file(tmp_path, LAYOUT, lead=lead)
    annotation = geocoded_indices(product, grid, dem, None)
    ahead = geocoded_indices(product, grid, dem, eof)
    expected = -lead.total_seconds() / LAYOUT.azimuth_time_interval
    found = np.isfinite(ahead[0]) & np.isfinite(annotation[0])
    assert found.mean() > 0.9 and abs(expected) > 5
    np.testing.assert_allclose(ahead[0][found] - annotation[0][found], expected, atol=1e-3)
    assert np.abs(ahead[1][found] - annotation[1][found]).max() < 1e-3


def test_process_s1_terrain_corrects_with_the_orbit_file(
    product: Path, grid: Grid, dem: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eof = write_orbit_file(tmp_path / "orbits", LAYOUT, kind="RESORB")
    out = tmp_path / "gtc.tif"
    args = ["--quiet", "process-s1", str(product), "--grid", str(dem), "--dem", str(dem)]
    assert main([*args, "-o", str(out), "--orbit", str(eof)]) == 0
    with rasterio.open(out) as src:
        tags = src.tags()
        assert tags["orbit_source"] == tags["orbit_file"] == f"RESORB {eof.stem}"
        assert np.isfinite(src.read(1)).all()

    late = write_orbit_file(tmp_path / "late", LAYOUT, shift=timedelta(hours=3))
    refused = tmp_path / "refused.tif"
    capsys.readouterr()
    assert main([*args, "-o", str(refused), "--orbit", str(late)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not the product's" in err
    assert not refused.exists()
