"""``geocolor import`` of SEN1-2 (PNG pairs) and Sen1Floods11 (chips and split CSVs), faked."""

from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geocolor.cli import main
from geocolor.demo.sen1_2 import write_sen1_2
from geocolor.demo.sen1floods11 import HAND_LABELED, SPLITS, write_sen1floods11
from geocolor.prepare.store import complete_pairs, open_store, read_tile, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.train.store_data import StoreData
from tests.test_dataset_import import (
    attrs_of,
    geocolor,
    held_out_patch,
    import_split,
    train_and_evaluate,
)

FLOOD_SPLITS = {
    "train": ["Ghana_103272", "Ghana_134751", "India_1018327"],
    "valid": ["India_1068117"],
    "test": ["Spain_6537196"],
    "bolivia": ["Bolivia_103757"],
}


def read_png(path: Path) -> np.ndarray:
    with rasterio.open(path) as src:
        data: np.ndarray = src.read()
    return data


def patch_names(store: str) -> list[tuple[str, int]]:
    """(patch name, split) of every tile of ``store``."""
    root = open_store(store, "r")
    tiles = read_tiles(root)
    return [
        (attrs_of(root, str(pair))["patches"][int(tile)]["name"], int(split))
        for pair, tile, split in zip(tiles.pair, tiles.tile_id, tiles.split, strict=True)
    ]


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
def test_sen1_2_pairs_pngs_without_georeference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    s1_files = write_sen1_2(tmp_path / "in", scenes=4, patches=2)
    missing = tmp_path / "in/ROIs1158_spring/s2_2/ROIs1158_spring_s2_2_p1.png"
    missing.unlink()
    store = str(tmp_path / "s.zarr")
    assert main(["import", "sen1-2", str(tmp_path / "in"), "-o", store, "--pack", "3"]) == 0
    out = capsys.readouterr().out  # not --quiet: the skipped pair's warning shows
    assert "7 patches imported into 3 groups" in out and "1 skipped" in out
    assert "ROIs1158_spring_s1_2_p1: skipped (its Sentinel-2 patch" in caplog.text
    root = open_store(store, "r")
    tiles = read_tiles(root)
    assert StoreData.open(store).layout.tile_size == 256
    first = attrs_of(root, str(tiles.pair[0]))
    patch = first["patches"][0]
    assert patch["crs"] == "" and first["parameters"]["georeferenced"] is False
    assert first["s1_bands"] == ["VV"]
    assert first["parameters"]["s1"]["polarisations"] == ["VV"]
    assert first["parameters"]["s1"]["quantisation"] == {"bits": 8, "db_range": [-25.0, 0.0]}
    assert first["parameters"]["s2"]["scale"] == pytest.approx(1 / 255)
    s1_png = next(path for path in s1_files if path.stem == patch["name"])
    s2_png = Path(str(s1_png).replace("s1_", "s2_"))
    s1, s2 = read_tile(root, str(tiles.pair[0]), int(tiles.row[0]), int(tiles.col[0]), 256)
    vv, rgb = read_png(s1_png).astype(np.float64), read_png(s2_png).astype(np.float64)
    np.testing.assert_allclose(s1[0], vv[0] * 25 / 255 - 25, atol=1e-5)
    np.testing.assert_allclose(s2[2], rgb[0] / 255, rtol=1e-6)  # B04: red
    np.testing.assert_allclose(s2[0], rgb[2] / 255, rtol=1e-6)  # B02: blue
    # no location to split by: whole scenes go to one split
    scenes: dict[str, set[int]] = {}
    for name, split in patch_names(store):
        scenes.setdefault(name.rsplit("_p", 1)[0], set()).add(split)
    assert len(scenes) == 4 and all(len(splits) == 1 for splits in scenes.values())


def test_sen1floods11_keeps_the_official_splits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    write_sen1floods11(tmp_path / "bucket", FLOOD_SPLITS, unlisted=("USA_430764",), size=512)
    hand = tmp_path / "bucket" / HAND_LABELED
    (hand / "S2Hand" / "Ghana_134751_S2Hand.tif").unlink()
    store = str(tmp_path / "f.zarr")
    assert main(["import", "sen1floods11", str(tmp_path / "bucket"), "-o", store]) == 0
    out = capsys.readouterr().out
    assert "5 patches imported into 1 groups" in out
    assert "1 skipped" in out and "1 outside the split lists" in out
    assert "Ghana_134751: skipped (its Sentinel-2 chip" in caplog.text
    assert dict(patch_names(store)) == {
        "Ghana_103272": Split.TRAIN,
        "India_1018327": Split.TRAIN,
        "India_1068117": Split.VAL,
        "Spain_6537196": Split.TEST,
        "Bolivia_103757": Split.TEST,  # the held-out event
    }
    root = open_store(store, "r")
    tiles = read_tiles(root)
    first = attrs_of(root, str(tiles.pair[0]))
    name = first["patches"][0]["name"]
    s1, s2 = read_tile(root, str(tiles.pair[0]), 0, 0, 512)
    with (
        rasterio.open(hand / "S1Hand" / f"{name}_S1Hand.tif") as radar,
        rasterio.open(hand / "S2Hand" / f"{name}_S2Hand.tif") as optical,
    ):
        np.testing.assert_array_equal(s1, radar.read())  # NaN edges stay NaN
        np.testing.assert_allclose(s2[2], optical.read(4) * 1e-4, rtol=1e-6)  # B4 is band 4
        assert CRS.from_user_input(first["patches"][0]["crs"]) == radar.crs == CRS.from_epsg(4326)
    assert first["parameters"]["s2"] == {"level": "L1C", "scale": 1e-4, "offset": 0.0}
    # the v1.1 folder itself is ROOT as well
    capsys.readouterr()
    again = str(tmp_path / "g.zarr")
    assert geocolor("import", "sen1floods11", str(tmp_path / "bucket/v1.1"), "-o", again) == 0
    assert dict(patch_names(again)) == dict(patch_names(store))
    # without the split CSVs, whole flood events are held out
    for csv in (tmp_path / "bucket" / SPLITS).iterdir():
        csv.unlink()
    unlisted = str(tmp_path / "h.zarr")
    assert geocolor("import", "sen1floods11", str(tmp_path / "bucket"), "-o", unlisted) == 0
    events: dict[str, set[int]] = {}
    for name, split in patch_names(unlisted):
        events.setdefault(name.split("_")[0], set()).add(split)
    assert len(events) == 5 and all(len(splits) == 1 for splits in events.values())


@pytest.mark.parametrize("dataset", ["sen1-2", "sen1floods11"])
def test_a_folder_that_is_not_the_dataset_is_one_line(
    dataset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sen1floods11(tmp_path / "photos", {"train": ["Ghana_1"]}, size=8)
    if dataset == "sen1floods11":
        (tmp_path / "photos").rename(tmp_path / "other")
        (tmp_path / "photos").mkdir()
    assert geocolor("import", dataset, str(tmp_path / "photos"), "-o", str(tmp_path / "s")) == 1
    error = capsys.readouterr().err.strip()
    title = {"sen1-2": "SEN1-2", "sen1floods11": "Sen1Floods11"}[dataset]
    assert error.startswith(f"geocolor: error: {tmp_path / 'photos'}: not a {title} folder")
    assert len(error.splitlines()) == 1


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("sen1-2 size", "ROIs1158_spring_s2_1_p1.png: 128 x 128 px, the dataset's patches are 256"),
        ("sen1-2 channels", "ROIs1158_spring_s1_1_p1.png: 3 channels, not SEN1-2's one (VV)"),
        ("sen1floods11 crs", "Ghana_1_S2Hand.tif: CRS EPSG:32630 differs from its partner's"),
    ],
)
def test_a_mismatched_patch_is_one_line_naming_the_file(
    damage: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = damage.split()[0]
    source = tmp_path / "in"
    if dataset == "sen1-2":
        write_sen1_2(source, scenes=1, patches=1)
        kind = "s2" if damage.endswith("size") else "s1"
        victim = source / f"ROIs1158_spring/{kind}_1/ROIs1158_spring_{kind}_1_p1.png"
        data = read_png(victim)
        data = data[:, :128, :128] if kind == "s2" else np.repeat(data, 3, axis=0)
        with rasterio.open(
            victim, "w", driver="PNG", width=data.shape[2], height=data.shape[1],
            count=data.shape[0], dtype="uint8",
        ) as dst:  # fmt: skip
            dst.write(data)
    else:
        write_sen1floods11(source, {"train": ["Ghana_1"]}, size=512)
        with rasterio.open(source / HAND_LABELED / "S2Hand" / "Ghana_1_S2Hand.tif", "r+") as dst:
            dst.crs = CRS.from_epsg(32630)
    store = str(tmp_path / "out.zarr")
    assert geocolor("import", dataset, str(source), "-o", store) == 1
    error = capsys.readouterr().err.strip()
    assert named in error and len(error.splitlines()) == 1
    assert complete_pairs(open_store(store, "r")) == []


def georeferenced_vv(png: Path, folder: Path) -> Path:
    """A SEN1-2 S1 patch as the georeferenced VV dB GeoTIFF a user colorizes.

    SEN1-2 gives no location, so this one is made up (a 10 m grid in UTM 32N): it stands
    for the scene's own processed backscatter.
    """
    vv = read_png(png).astype(np.float32) * np.float32(25 / 255) - np.float32(25)
    scene = folder / f"{png.stem}_VV_sigma0_db.tif"
    with rasterio.open(
        scene,
        "w",
        driver="GTiff",
        width=vv.shape[2],
        height=vv.shape[1],
        count=1,
        dtype="float32",
        crs=CRS.from_epsg(32632),
        transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 5300000.0),
    ) as dst:
        dst.write(vv)
        dst.descriptions = ("VV sigma0 dB",)
    return scene


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("dataset", ["sen1-2", "sen1floods11"])
def test_import_train_evaluate_colorize(
    dataset: str, tracking: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    if dataset == "sen1-2":
        write_sen1_2(source, scenes=8, patches=1)
    else:
        chips = {"train": ["Ghana_1", "Ghana_2"], "valid": ["India_3"], "test": ["Spain_4"]}
        write_sen1floods11(source, chips)
    store = str(tmp_path / "store.zarr")
    import_split(dataset, source, store)
    train_and_evaluate(store, "64")
    root = open_store(store, "r")
    if dataset == "sen1floods11":
        # the chip's own S1Hand file (VV, VH, bands not described), as the dataset ships it
        scene = source / HAND_LABELED / "S1Hand" / f"{held_out_patch(root)}_S1Hand.tif"
    else:
        tiles = read_tiles(root).of_split(Split.TEST)
        name = attrs_of(root, str(tiles.pair[0]))["patches"][int(tiles.tile_id[0])]["name"]
        png = next(source.glob(f"*/*/{name}.png"))
        capsys.readouterr()
        # a PNG patch has no location for colorize's georeferenced map: refused
        refused = geocolor("colorize", str(png), "--model", "models:/geocolor/1", "-o", "x.tif")
        error = capsys.readouterr().err.strip()
        assert refused == 1 and len(error.splitlines()) == 1
        assert f"{png}: " in error and "georeferenced" in error
        scene = georeferenced_vv(png, tmp_path)
    out = tmp_path / "colour.tif"
    assert geocolor("colorize", str(scene), "--model", "models:/geocolor/1", "-o", str(out)) == 0
    with rasterio.open(out) as colour, rasterio.open(scene) as radar:
        assert colour.count == 3 and colour.shape == radar.shape and colour.crs == radar.crs
        assert colour.read(1).std() > 0


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")
@pytest.mark.parametrize("dataset", ["sen1-2", "sen1floods11"])
def test_import_streams_from_gcs(
    dataset: str, gcs_bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / dataset
    if dataset == "sen1-2":
        write_sen1_2(local, scenes=2, patches=1)
    else:
        write_sen1floods11(local, {"train": ["Ghana_1"], "test": ["Spain_2"]})
    fs = fsspec.filesystem("gs")
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.put_file(str(path), f"{gcs_bucket}/{dataset}/{path.relative_to(local)}")
    store = str(tmp_path / "s.zarr")
    assert geocolor("import", dataset, f"{gcs_bucket}/{dataset}", "-o", store) == 0
    assert "2 patches imported into 1 groups" in capsys.readouterr().out
    if dataset == "sen1floods11":  # the split CSVs were read from the bucket too
        assert dict(patch_names(store)) == {"Ghana_1": Split.TRAIN, "Spain_2": Split.TEST}
