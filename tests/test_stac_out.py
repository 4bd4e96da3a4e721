"""STAC out: the Item beside every colorized COG, the Collection beside every prepared store.

Both validate against the STAC core and extension schemas (offline, see
``tests/stac_validation.py``), agree with the files they describe (grid, footprint,
time, provenance) and are read back by pystac as any STAC consumer would.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import numpy as np
import pystac
import pytest
import rasterio
import rasterio.warp
import zarr
from pystac.errors import STACValidationError
from pystac.extensions.eo import EOExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import RasterExtension
from shapely.geometry import Point, Polygon, shape

from geocolor import __version__
from geocolor.cli import main
from geocolor.colorize.drift_check import DriftError
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.geo.grid import Grid
from geocolor.prepare.catalog import catalog_folder
from geocolor.prepare.store import complete_pairs, open_store, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.s2.product import open_s2
from tests.model_factory import log_tiny_model
from tests.stac_validation import validate
from tests.test_colorize_drift import IW_PRODUCT, landscape, model, reference, write_scene

EXTENSIONS = {
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.0.0/schema.json",
}
CORE_ITEM = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"
# the scene's acquisition: the start time in IW_PRODUCT's name
ACQUIRED = datetime(2021, 6, 14, 5, 26, 47, tzinfo=UTC)


def assert_grid_matches(projection: ProjectionExtension, grid: Grid) -> None:
    assert projection.code == f"EPSG:{grid.crs.to_epsg()}"
    assert projection.shape == [grid.height, grid.width]
    assert projection.transform == list(grid.transform)[:6]
    assert projection.bbox == list(grid.bounds)


def assert_footprint_covered(item: pystac.Item, grid: Grid) -> None:
    """The Item's geometry and bbox hold the grid's outline in lon/lat (to a micro-degree)."""
    tolerance = 1e-6
    left, bottom, right, top = grid.bounds
    along = np.linspace(0, 1, 21)
    width, height = right - left, top - bottom
    # the outline counter-clockwise, 20 steps a side
    xs = [left + along * width, np.full(21, right), right - along * width, np.full(21, left)]
    ys = [np.full(21, bottom), bottom + along * height, np.full(21, top), top - along * height]
    lons, lats = rasterio.warp.transform(
        grid.crs, "EPSG:4326", np.concatenate(xs), np.concatenate(ys)
    )
    outline = shape(item.geometry)
    assert all(
        outline.buffer(tolerance).covers(Point(x, y)) for x, y in zip(lons, lats, strict=True)
    )
    assert outline.area == pytest.approx(Polygon(zip(lons, lats, strict=True)).area, rel=1e-3)
    assert item.bbox is not None
    west, south, east, north = item.bbox
    assert west <= min(lons) + tolerance and south <= min(lats) + tolerance
    assert east >= max(lons) - tolerance and north >= max(lats) - tolerance


# --- colorize ---------------------------------------------------------------------------


def test_a_colorized_cog_has_a_valid_item_that_describes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the registry's artifacts go to ./mlruns
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", drift_reference=reference())
    scene = write_scene(tmp_path / "scene.tif", landscape(1))
    out = tmp_path / "colour.tif"
    assert main(["--quiet", "colorize", scene, "--model", uri, "-o", str(out)]) == 0

    item = pystac.Item.from_file(str(tmp_path / "colour.json"))
    assert set(validate(item)) == {CORE_ITEM, *EXTENSIONS}
    assert item.id == "colour" and item.datetime == ACQUIRED

    with rasterio.open(out) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        tags = src.tags()
    assert_grid_matches(ProjectionExtension.ext(item), grid)
    assert_footprint_covered(item, grid)

    visual = item.assets["visual"]
    assert visual.get_absolute_href() == str(out)  # relative to the Item: they move together
    assert visual.roles == ["data", "visual"] and visual.media_type == pystac.MediaType.COG
    bands = RasterExtension.ext(visual).bands
    assert bands is not None and [band.data_type for band in bands] == ["uint8"] * 3
    eo_bands = EOExtension.ext(visual).bands
    assert eo_bands is not None
    assert [(band.name, band.common_name) for band in eo_bands] == [
        ("B04", "red"),
        ("B03", "green"),
        ("B02", "blue"),
    ]

    (source,) = item.get_links(pystac.RelType.DERIVED_FROM)
    assert source.href == scene and source.title == IW_PRODUCT

    properties = item.properties
    assert properties["processing:software"] == {"geocolor": __version__}
    assert (
        uri in properties["processing:lineage"] and "version 1" in properties["processing:lineage"]
    )
    assert properties["geocolor:model_uri"] == uri == tags["model_uri"]
    assert properties["geocolor:model_version"] == "1"
    assert properties["geocolor:drift_verdict"] == "ok" == tags["drift_verdict"]
    assert properties["geocolor:drift_summary"] == tags["drift_summary"]
    drift = item.assets["drift"]
    assert drift.roles == ["metadata"]
    report = json.loads(Path(drift.get_absolute_href() or "").read_text())
    assert report["verdict"] == "ok"


def test_the_validator_refuses_what_breaks_a_schema(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "scene.tif", landscape(1))
    colorize(scene, model(), str(tmp_path / "colour.tif"), config=ColorizeConfig(tile_size=64))
    document = json.loads((tmp_path / "colour.json").read_text())
    validate(pystac.Item.from_dict(document))
    for field, value in [("proj:shape", "96 x 96"), ("processing:unknown", "x")]:
        broken = json.loads(json.dumps(document))
        broken["properties"][field] = value
        with pytest.raises(STACValidationError):
            validate(pystac.Item.from_dict(broken))


def test_a_remote_cog_gets_its_item_beside_it_and_no_drift_asset_without_a_report(
    tmp_path: Path,
) -> None:
    scene = write_scene(tmp_path / "scene.tif", landscape(1))
    folder = f"memory://stac-out-{tmp_path.name}"
    try:
        colorize(scene, model(with_reference=False), f"{folder}/colour.tif")
        with fsspec.open(f"{folder}/colour.json", "rt") as stream:
            document = json.load(stream)
        fs, _ = fsspec.core.url_to_fs(folder)
        names = sorted(path.rsplit("/", 1)[-1] for path in fs.ls(folder, detail=False))
    finally:
        fsspec.filesystem("memory").rm(folder, recursive=True)
    assert names == ["colour.json", "colour.tif"]  # no partial file left
    item = pystac.Item.from_dict(document)
    validate(item)
    assert item.assets["visual"].href == "./colour.tif"
    assert set(item.assets) == {"visual"}
    assert item.properties["geocolor:drift_verdict"] == "unknown"


def test_a_refused_scene_leaves_no_item(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "bright.tif", landscape(1) + 6)
    with pytest.raises(DriftError):
        colorize(
            scene,
            model(),
            str(tmp_path / "colour.tif"),
            config=ColorizeConfig(tile_size=64, fail_on_drift=True),
        )
    assert not (tmp_path / "colour.json").exists()


def test_a_scene_of_unknown_time_gets_an_item_with_an_honest_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scene = write_scene(tmp_path / "scene.tif", landscape(1), product="my_mosaic")
    before = datetime.now(UTC).replace(microsecond=0)
    with caplog.at_level(logging.WARNING, logger="geocolor.colorize.stac_item"):
        colorize(scene, model(), str(tmp_path / "colour.tif"), config=ColorizeConfig(tile_size=64))
    assert "gives a time interval" in caplog.text and "no acquisition time" in caplog.text
    item = pystac.Item.from_file(str(tmp_path / "colour.json"))
    validate(item)
    assert item.datetime is None
    assert item.properties["geocolor:acquisition_time"] == "unknown"
    start, end = item.common_metadata.start_datetime, item.common_metadata.end_datetime
    assert start == datetime(2014, 4, 3, tzinfo=UTC)  # Sentinel-1A's launch
    assert end is not None and before <= end <= datetime.now(UTC)
    assert item.common_metadata.created == end
    # STAC asks for a time or both ends of an interval: without them it is refused
    broken = item.to_dict(include_self_link=False, transform_hrefs=False)
    del broken["properties"]["start_datetime"]
    with pytest.raises(STACValidationError):
        validate(broken)


# --- prepare ----------------------------------------------------------------------------

LAYOUT = SceneLayout(lines=600, samples=800)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One Sentinel-1 scene and two Sentinel-2 acquisitions of its tile, two days apart."""
    folder = tmp_path_factory.mktemp("scenes")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=1)
    first = write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1)
    sensed = open_s2(str(first)).info.sensing_time
    assert sensed is not None
    later = write_synthetic_s2(
        folder, layout=LAYOUT, seed=1, cloud_fraction=0.1, sensing_time=sensed + timedelta(days=2)
    )
    return s1, first, later


def prepare(store: Path, s1: Path, *s2: Path) -> int:
    command = ["--quiet", "prepare", "--s1", str(s1), "-o", str(store), *TILE]
    for path in s2:
        command += ["--s2", str(path)]
    return main(command)


def read_collection(store: Path) -> pystac.Collection:
    collection = pystac.Collection.from_file(f"{catalog_folder(str(store))}/collection.json")
    assert set(validate(collection)) == {
        "https://schemas.stacspec.org/v1.1.0/collection-spec/json-schema/collection.json"
    }
    return collection


def check_pair_item(item: pystac.Item, store: Path, scenes: tuple[Path, ...]) -> None:
    """The pair's Item agrees with the store: grid, tiles, times, inputs, arrays."""
    assert EXTENSIONS - set(validate(item)) == {
        "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
    }
    group = open_store(str(store), "r")[f"pairs/{item.id}"]
    attrs = dict(group.attrs)
    grid = Grid(
        rasterio.crs.CRS.from_wkt(attrs["crs"]),
        rasterio.Affine(*attrs["transform"]),
        attrs["width"],
        attrs["height"],
    )
    assert_grid_matches(ProjectionExtension.ext(item), grid)
    assert_footprint_covered(item, grid)

    properties = item.properties
    every_tile = read_tiles(open_store(str(store), "r"))
    tiles = every_tile.select(every_tile.pair == item.id)
    assert properties["geocolor:tiles"] == len(tiles) > 0
    assert properties["geocolor:splits"] == {
        split.name.lower(): int((tiles.split == split).sum()) for split in Split
    }
    s2_input = next(path for path in scenes[1:] if path.name.startswith(attrs["s2_product"]))
    sensed = open_s2(str(s2_input)).info.sensing_time
    assert sensed is not None
    s1_time = datetime.fromisoformat(attrs["s1_start_time"]).astimezone(UTC)
    s2_time = sensed.replace(tzinfo=UTC)
    assert item.datetime == s2_time
    assert item.common_metadata.start_datetime == min(s1_time, s2_time)
    assert item.common_metadata.end_datetime == max(s1_time, s2_time)
    sources = {link.title: link.href for link in item.get_links(pystac.RelType.DERIVED_FROM)}
    assert sources == {attrs["s1_product"]: str(scenes[0]), attrs["s2_product"]: str(s2_input)}
    assert item.properties["processing:software"] == {"geocolor": __version__}
    for key in ("s1", "s2", "mask"):
        asset = item.assets[key]
        assert asset.media_type == "application/vnd+zarr" and asset.roles == ["data"]
        href = asset.get_absolute_href()
        assert href == str(store / "pairs" / item.id / key)
        array = zarr.open_array(href, mode="r")
        bands = RasterExtension.ext(asset).bands
        assert bands is not None and len(bands) == array.shape[0]
        assert {band.data_type for band in bands} == {str(array.dtype)}


def test_prepare_keeps_a_collection_with_an_item_per_complete_pair_across_runs(
    scenes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    s1, first, later = scenes
    store = tmp_path / "pairs.zarr"
    assert prepare(store, s1, first) == 0
    collection = read_collection(store)
    (item,) = collection.get_items()
    check_pair_item(item, store, scenes)
    assert collection.id == "pairs" == item.collection_id
    assert collection.assets["store"].get_absolute_href() == str(store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zarr warns of any object in the store not its own
        assert list(zarr.open_group(str(store), mode="r").members(max_depth=None))

    # a second run adds the later pair and keeps the first as it was
    first_item = (Path(catalog_folder(str(store))) / "items" / f"{item.id}.json").read_text()
    assert prepare(store, s1, first, later) == 0
    collection = read_collection(store)
    items = sorted(collection.get_items(), key=lambda found: found.id)
    assert [found.id for found in items] == complete_pairs(open_store(str(store), "r"))
    assert len(items) == 2
    for found in items:
        check_pair_item(found, store, scenes)
    assert json.loads(
        (Path(catalog_folder(str(store))) / "items" / f"{item.id}.json").read_text()
    ) == json.loads(first_item)
    bbox = collection.extent.spatial.bboxes[0]
    assert all(bbox[0] <= found.bbox[0] and bbox[3] >= found.bbox[3] for found in items)
    (interval,) = collection.extent.temporal.intervals
    assert interval == [
        min(found.common_metadata.start_datetime for found in items),
        max(found.common_metadata.end_datetime for found in items),
    ]
    assert collection.extra_fields["geocolor:tile_size"] == 64
    assert collection.extra_fields["geocolor:pairs"] == 2


def test_a_lost_catalogue_is_rewritten_from_the_store(
    scenes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    """A run killed after a pair completed but before its Item was written: the next run
    (which skips the pair) still lists it."""
    s1, first, _ = scenes
    store = tmp_path / "pairs.zarr"
    assert prepare(store, s1, first) == 0
    written = (Path(catalog_folder(str(store))) / "collection.json").read_text()
    shutil.rmtree(catalog_folder(str(store)))
    assert prepare(store, s1, first) == 0
    (item,) = read_collection(store).get_items()
    check_pair_item(item, store, scenes)
    assert (
        json.loads(written)["links"]
        == json.loads((Path(catalog_folder(str(store))) / "collection.json").read_text())["links"]
    )
