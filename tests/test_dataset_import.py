"""``geocolor import``: public datasets (fake, format-faithful copies) into the training store."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pytest
import rasterio
import zarr
from rasterio.crs import CRS

from geocolor.cli import main
from geocolor.datasets.groups import plan_groups
from geocolor.datasets.patches import Candidate
from geocolor.demo.public_datasets import BEN_S1, BEN_S2, write_bigearthnet, write_sen12ms
from geocolor.prepare.store import begin_pair, complete_pairs, open_store, read_tile, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.train.store_data import StoreData


def geocolor(*args: str) -> int:
    return main(["--quiet", *args])


def attrs_of(root: zarr.Group, pair: str) -> dict[str, Any]:
    """A pair group's attributes, as plain JSON values."""
    return dict(root[f"pairs/{pair}"].attrs)


@pytest.fixture(scope="module")
def ben(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ben")
    write_bigearthnet(folder, 10, missing_s2=1)
    return folder


def test_bigearthnet_example_gives_one_pair_per_patch_packed(
    ben: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "ben.zarr")
    assert geocolor("import", "bigearthnet", str(ben), "-o", store, "--pack", "4") == 0
    assert "9 patches imported into 3 groups" in capsys.readouterr().out
    root = open_store(store, "r")
    tiles = read_tiles(root)
    assert len(tiles) == 9  # one tile per patch whose S2 partner exists
    assert StoreData.open(store).layout.tile_size == 120
    first = attrs_of(root, str(tiles.pair[0]))
    patch = first["patches"][0]
    s1_file = ben / BEN_S1 / patch["name"] / f"{patch['name']}_VH.tif"
    s2_file = ben / BEN_S2 / patch["partner"] / f"{patch['partner']}_B04.tif"
    s1, s2 = read_tile(root, str(tiles.pair[0]), int(tiles.row[0]), int(tiles.col[0]), 120)
    with rasterio.open(s1_file) as vh, rasterio.open(s2_file) as red:
        np.testing.assert_array_equal(s1[1], vh.read(1))
        np.testing.assert_allclose(s2[2], red.read(1) * 1e-4, rtol=1e-6)
        assert (tiles.x_min[0], tiles.y_max[0]) == (vh.transform.c, vh.transform.f)
    parameters = first["parameters"]
    assert parameters["s2"] == {"level": "L2A", "scale": 1e-4, "offset": 0.0}
    assert parameters["s1"]["speckle"] == "none"
    assert parameters["s1"]["measure"] == "sigma0" and parameters["s1"]["db"] is True
    # packed: one file per modality and group, not one per patch
    s1_files = [p for p in (tmp_path / "ben.zarr" / "pairs").rglob("*") if "/s1/c/" in str(p)]
    assert len([p for p in s1_files if p.is_file()]) == 3


def test_a_rerun_skips_complete_groups_and_redoes_half_written_ones(
    ben: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "ben.zarr")
    assert geocolor("import", "bigearthnet", str(ben), "-o", store, "--pack", "4") == 0
    root = open_store(store, "r+")
    interrupted = complete_pairs(root)[1]
    begin_pair(root, interrupted)  # as a killed run leaves it: begun, not complete
    capsys.readouterr()
    assert geocolor("import", "bigearthnet", str(ben), "-o", store, "--pack", "4") == 0
    assert "(2 already complete)" in capsys.readouterr().out
    assert interrupted in complete_pairs(open_store(store, "r"))
    assert len(read_tiles(open_store(store, "r"))) == 9


def test_group_names_follow_their_members() -> None:
    listing = [Candidate(f"p{i}", f"/d/p{i}") for i in range(5)]
    first, second = list(plan_groups(listing, 2, "x")), list(plan_groups(listing[:4], 2, "x"))
    assert [g.group_id for g in first[:2]] == [g.group_id for g in second]
    other = list(plan_groups([*listing[:4], Candidate("q", "/q")], 2, "x"))
    assert first[2].group_id != other[2].group_id


def test_official_split_lists_are_kept(
    ben: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lists = tmp_path / "splits"
    lists.mkdir()
    s2_names = sorted(p.name for p in (ben / BEN_S2).iterdir())
    (lists / "train.csv").write_text("\n".join(s2_names[:5]) + "\n")
    (lists / "val.csv").write_text(s2_names[5] + "\n")
    (lists / "test.csv").write_text(",".join(s2_names[6:8]) + "\n")
    store = str(tmp_path / "ben.zarr")
    assert (
        geocolor("import", "bigearthnet", str(ben), "-o", store, "--split-lists", str(lists)) == 0
    )
    assert "1 outside the split lists" in capsys.readouterr().out
    tiles = read_tiles(open_store(store, "r"))
    assert np.bincount(tiles.split, minlength=3).tolist() == [5, 1, 2]


def test_the_cloud_and_snow_lists_in_root_leave_their_patches_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "in"
    write_bigearthnet(root, 6)
    s2_names = sorted(p.name for p in (root / BEN_S2).iterdir())
    # as downloaded: one S2 patch name per line, no header; Zenodo's copies are gzipped
    (root / "patches_with_cloud_and_shadow.csv").write_text(f"{s2_names[0]}\n{s2_names[1]}\n")
    with gzip.open(root / "patches_with_seasonal_snow.csv.gz", "wt") as snow:
        snow.write(f"{s2_names[4]}\n")

    def imported(*options: str) -> set[str]:
        store = tmp_path / f"s{len(list(tmp_path.iterdir()))}.zarr"
        assert geocolor("import", "bigearthnet", str(root), "-o", str(store), *options) == 0
        root_group = open_store(str(store), "r")
        tiles = read_tiles(root_group)
        return {
            attrs_of(root_group, str(pair))["patches"][int(tile)]["partner"]
            for pair, tile in zip(tiles.pair, tiles.tile_id, strict=True)
        }

    assert imported() == set(s2_names) - {s2_names[0], s2_names[1], s2_names[4]}
    assert "3 on the exclude lists" in capsys.readouterr().out
    assert imported("--keep-listed") == set(s2_names)
    assert "0 on the exclude lists" in capsys.readouterr().out
    own = tmp_path / "mine.csv"
    own.write_text(f"{s2_names[2]},other columns\n")
    assert imported("--exclude-list", str(own)) == set(s2_names) - {s2_names[2]}
    capsys.readouterr()
    missing = ("--exclude-list", str(tmp_path / "nope.csv"))
    assert (
        geocolor("import", "bigearthnet", str(root), "-o", str(tmp_path / "x.zarr"), *missing) == 2
    )
    assert f"{tmp_path / 'nope.csv'}: no such patch list" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("crs", "S2A_MSIL2A_20170613T101031_2_0_B03.tif: CRS EPSG:32632 differs"),
        ("size", "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_2_0_VV.tif: 60 x 60 px"),
    ],
)
def test_a_mismatched_patch_is_one_line_naming_the_file(
    damage: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bigearthnet(tmp_path / "in", 4)
    s1_name, s2_name = (
        "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_2_0",
        "S2A_MSIL2A_20170613T101031_2_0",
    )
    if damage == "crs":
        victim = tmp_path / "in" / BEN_S2 / s2_name / f"{s2_name}_B03.tif"
        with rasterio.open(victim, "r+") as dst:
            dst.crs = CRS.from_epsg(32632)
    else:
        victim = tmp_path / "in" / BEN_S1 / s1_name / f"{s1_name}_VV.tif"
        with rasterio.open(victim) as src:
            profile, data = src.profile, src.read()[:, :60, :60]
        profile.update(width=60, height=60)
        with rasterio.open(victim, "w", **profile) as dst:
            dst.write(data)
    store = str(tmp_path / "out.zarr")
    assert geocolor("import", "bigearthnet", str(tmp_path / "in"), "-o", store) == 1
    error = capsys.readouterr().err.strip()
    assert named in error and len(error.splitlines()) == 1
    assert complete_pairs(open_store(store, "r")) == []


def test_a_folder_that_is_not_the_dataset_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "photos").mkdir()
    for dataset in ("bigearthnet", "sen12ms"):
        assert geocolor("import", dataset, str(tmp_path / "photos"), "-o", str(tmp_path / "s")) == 1
        error = capsys.readouterr().err.strip()
        assert error.startswith(f"geocolor: error: {tmp_path / 'photos'}: not a ")
        assert len(error.splitlines()) == 1


def test_sen12ms_holds_out_whole_scenes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_sen12ms(tmp_path / "in", scenes=6, patches=2)
    (tmp_path / "in" / "ROIs1158_spring" / "s2_3" / "ROIs1158_spring_s2_3_p2.tif").unlink()
    with rasterio.open(
        tmp_path / "in/ROIs1158_spring/s1_4/ROIs1158_spring_s1_4_p1.tif", "r+"
    ) as s1:
        blanked = s1.read()
        blanked[:, 100:] = np.nan  # over half the patch is nodata
        s1.write(blanked)
    store = str(tmp_path / "s.zarr")
    assert geocolor("import", "sen12ms", str(tmp_path / "in"), "-o", store, "--pack", "5") == 0
    assert "1 skipped, 1 mostly nodata" in capsys.readouterr().out
    root = open_store(store, "r")
    tiles = read_tiles(root)
    assert len(tiles) == 10
    scenes: dict[str, set[int]] = {}
    for pair, tile_id, split in zip(tiles.pair, tiles.tile_id, tiles.split, strict=True):
        name = attrs_of(root, str(pair))["patches"][int(tile_id)]["name"]
        scenes.setdefault(name.rsplit("_p", 1)[0], set()).add(int(split))
    assert len(scenes) == 6 and all(len(splits) == 1 for splits in scenes.values())
    parameters = attrs_of(root, str(tiles.pair[0]))["parameters"]
    assert parameters["s2"]["level"] == "L1C"
    assert StoreData.open(store).layout.tile_size == 256
    assert set(tiles.split.tolist()) <= {int(s) for s in Split}


TINY = [
    *("--steps-per-epoch", "2", "--batch-size", "2", "--num-workers", "0", "--epochs", "1"),
    *("-O", "ngf=4", "-O", "n_blocks=1", "-O", "ndf=4"),
]


def held_out_patch(root: zarr.Group) -> str:
    """The name of the first test patch."""
    tiles = read_tiles(root).of_split(Split.TEST)
    return str(attrs_of(root, str(tiles.pair[0]))["patches"][int(tiles.tile_id[0])]["name"])


def ben_scene(root: Path) -> Callable[[str], Path]:
    """A BigEarthNet S1 patch folder (its _VV.tif and _VH.tif), as the archive ships it."""
    return lambda name: root / BEN_S1 / name


def sen12ms_scene(root: Path) -> Callable[[str], Path]:
    """A SEN12MS _s1_ patch (VV and VH, bands not described), as the archive ships it."""
    return lambda name: next(root.glob(f"*/*/{name}.tif"))


def import_split(dataset: str, source: Path, store: str, *options: str) -> None:
    """Import ``source`` as ``dataset``: half for training, a quarter each to validate and test."""
    imported = ("import", dataset, str(source), "-o", store, "--split", "0.5,0.25,0.25")
    assert geocolor(*imported, *options, "--seed", "3") == 0


def train_and_evaluate(store: str, crop: str) -> None:
    """Train a tiny model on ``crop`` px crops of the store (version 1) and evaluate it."""
    assert geocolor("train", store, *TINY, "--tile-size", crop) == 0
    assert geocolor("evaluate", "models:/geocolor/1", store, "--max-tiles", "2") == 0


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["bigearthnet", "sen12ms"])
def test_import_train_evaluate_colorize(
    dataset: str, tracking: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    if dataset == "bigearthnet":
        write_bigearthnet(source, 16)
        scene_of, crop, block = ben_scene(source), "32", "1200"
    else:
        write_sen12ms(source, scenes=8, patches=1)
        scene_of, crop, block = sen12ms_scene(source), "64", "1"
    store = str(tmp_path / "store.zarr")
    import_split(dataset, source, store, "--split-block", block)
    size = StoreData.open(store).layout.tile_size
    capsys.readouterr()
    assert geocolor("train", store, *TINY, "--tile-size", str(size * 2)) == 1
    assert f"cannot fit the store's {size} px tiles" in capsys.readouterr().err
    train_and_evaluate(store, crop)
    scene = scene_of(held_out_patch(open_store(store, "r")))
    out = tmp_path / "colour.tif"
    assert geocolor("colorize", str(scene), "--model", "models:/geocolor/1", "-o", str(out)) == 0
    radar_file = next(scene.glob("*_VH.tif")) if scene.is_dir() else scene
    with rasterio.open(out) as colour, rasterio.open(radar_file) as radar:
        assert colour.count == 3 and colour.shape == radar.shape and colour.crs == radar.crs
        assert colour.transform == radar.transform and colour.dataset_mask().all()


def test_import_streams_from_and_to_gcs(
    gcs_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_bigearthnet(tmp_path / "ben", 4, missing_s2=1)
    fs = fsspec.filesystem("gs")
    for path in sorted((tmp_path / "ben").rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{gcs_bucket}/ben/{path.relative_to(tmp_path / 'ben')}")
    store = f"{gcs_bucket}/ben.zarr"
    assert geocolor("import", "bigearthnet", f"{gcs_bucket}/ben", "-o", store) == 0
    assert "3 patches imported into 1 groups" in capsys.readouterr().out
    tiles = read_tiles(open_store(store, "r"))
    assert len(tiles) == 3
    s1, s2 = read_tile(open_store(store, "r"), str(tiles.pair[0]), 0, 0, 120)
    assert np.isfinite(s1).all() and np.isfinite(s2).all()


def test_limit_imports_the_first_pairs(ben: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "ben.zarr")
    assert geocolor("import", "bigearthnet", str(ben), "-o", store, "--limit", "3") == 0
    root = open_store(store, "r")
    tiles = read_tiles(root)
    names = [
        attrs_of(root, str(p))["patches"][int(t)]["name"]
        for p, t in zip(tiles.pair, tiles.tile_id, strict=True)
    ]
    assert names == sorted(path.name for path in (ben / BEN_S1).iterdir())[:3]
