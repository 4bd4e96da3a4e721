"""Inputs are checked before anything is written, and a bad AOI is named for what it is."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from shapely.geometry import LineString, Point, mapping

from geocolor.cli import main
from geocolor.colorize.readers import output_grid
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import UsageError
from geocolor.geo.aoi import load_aoi
from geocolor.s1.backscatter import S1Config
from geocolor.s1.source import open_s1
from geocolor.s2.product import open_s2

LAYOUT = SceneLayout(lines=300, samples=400)


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("products")
    return (
        write_synthetic_s1(folder, layout=LAYOUT, seed=1),
        write_synthetic_s2(folder, layout=LAYOUT, seed=1),
    )


def test_a_product_without_scl_fails_before_the_store_is_made(
    products: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The good pair comes first: before, it was written, then the run failed on the second."""
    s1, good = products
    sensed = open_s2(str(good)).info.sensing_time
    assert sensed is not None
    later = write_synthetic_s2(
        tmp_path / "s2", layout=LAYOUT, seed=1, sensing_time=sensed + timedelta(days=1)
    )
    for scl in later.rglob("*_SCL_*"):
        scl.unlink()
    store = tmp_path / "pairs.zarr"
    capsys.readouterr()
    args = ["--quiet", "prepare", "--s1", str(s1), "--s2", str(good), "--s2", str(later)]
    assert main([*args, "--tile-size", "64", "-o", str(store)]) == 1
    err = capsys.readouterr().err
    assert "no SCL raster" in err and len(err.strip().splitlines()) == 1
    assert not store.exists()


def write_geojson(path: Path, geometry: object) -> str:
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": geometry}))
    return str(path)


def test_an_aoi_without_area_is_refused_as_such(tmp_path: Path) -> None:
    for name, geometry in {
        "point": mapping(Point(3.0, 45.0)),
        "line": mapping(LineString([(3.0, 45.0), (3.1, 45.1)])),
        "flat": {"type": "Polygon", "coordinates": [[[3, 45], [3.1, 45], [3.2, 45], [3, 45]]]},
    }.items():
        aoi = write_geojson(tmp_path / f"{name}.geojson", geometry)
        with pytest.raises(UsageError, match="with no area"):
            load_aoi(aoi)


def test_a_point_inside_the_scene_is_not_called_outside_it(
    products: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    s1 = products[0]
    centre = open_s1(str(s1)).footprint().centroid
    aoi = write_geojson(tmp_path / "point.geojson", mapping(centre))
    out = tmp_path / "out.tif"
    args = ["--quiet", "colorize", str(s1), "--model", "models:/none@x", "--aoi", aoi]
    assert main([*args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is a Point with no area" in err and "outside" not in err
    # a geometry handed over directly, as the app does, is refused alike
    with pytest.raises(UsageError, match="Point with no area"):
        output_grid(open_s1(str(s1)), S1Config(), centre, None, None, str(s1))
    assert not out.exists()
