from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.prepare.store import complete_pairs, open_store, read_tile, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.s2.product import open_s2

LAYOUT = SceneLayout(lines=600, samples=800)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("scenes")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=1)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1)
    return s1, s2


def prepare(scenes: tuple[Path, Path], store: Path, *extra: str) -> int:
    s1, s2 = scenes
    return main(["--quiet", "prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store), *extra])


def test_prepare_writes_a_paired_tiled_store(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "pairs.zarr"
    assert prepare(scenes, store, *TILE) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == str(store)
    assert "tiles kept" in out[-2] and out[-2].startswith("1 pairs")

    root = open_store(str(store), "r")
    (pair,) = complete_pairs(root)
    attrs = dict(root[f"pairs/{pair}"].attrs)
    s2 = open_s2(str(scenes[1]))
    assert attrs["s2_product"] == s2.info.product_id
    assert attrs["s1_product"] == scenes[0].name.removesuffix(".SAFE")
    assert attrs["s1_bands"] == ["VV sigma0 dB", "VH sigma0 dB"]
    acquisition = attrs["s1_acquisition"]
    assert (acquisition["mission"], acquisition["mode"]) == ("S1A", "IW")
    assert acquisition["polarisations"] == ["VV", "VH"] and acquisition["ipf_version"]
    low, high = acquisition["incidence_range"]
    assert 15 < low < high < 50
    assert attrs["s1_provenance"] == {
        "border_noise": "not needed (IPF 003.31 >= 2.90)",
        "orbit_source": "annotation",
    }
    assert attrs["geocolor_version"] and attrs["parameters"]["tile_size"] == 64
    assert len(attrs["shift"]) == 2

    tiles = read_tiles(root)
    assert len(tiles) > 5
    assert (tiles.valid_fraction >= 0.9).all() and (tiles.cloud_fraction <= 0.2).all()
    assert Split.TRAIN in set(tiles.split.tolist())
    s1_array = root[f"pairs/{pair}/s1"]
    assert isinstance(s1_array, zarr.Array) and s1_array.chunks == (2, 64, 64)

    # S2 pixels in the store are the product's reflectance on its own grid
    crs, transform, _, _ = s2.grid(10)
    assert attrs["crs"] == crs.to_wkt()
    col0, row0 = (round(v) for v in ~transform @ tuple(attrs["transform"][i] for i in (2, 5)))
    row, col = int(tiles.row[0]), int(tiles.col[0])
    s1_tile, s2_tile = read_tile(root, pair, row, col, 64)
    expected = s2.read_reflectance(resolution=10)[
        :, row0 + row : row0 + row + 64, col0 + col : col0 + col + 64
    ].values
    np.testing.assert_array_equal(s2_tile, expected)
    assert np.isfinite(s1_tile).mean() >= 0.9 and -35 < np.nanmedian(s1_tile) < 5


def test_rerun_skips_finished_pairs(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "pairs.zarr"
    assert prepare(scenes, store, *TILE) == 0
    capsys.readouterr()
    assert prepare(scenes, store, *TILE) == 0
    assert "skipped (already complete)" in capsys.readouterr().out


def test_store_refuses_mixed_settings(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "pairs.zarr"
    assert prepare(scenes, store, *TILE) == 0
    assert open_store(str(store), "r").attrs["tile_size"] == 64
    capsys.readouterr()
    assert prepare(scenes, store, "--tile-size", "32") == 2
    assert "holds tile_size 64, not 32" in capsys.readouterr().err


def test_killed_run_is_redone(scenes: tuple[Path, Path], tmp_path: Path) -> None:
    store = tmp_path / "pairs.zarr"
    s1, s2 = scenes
    command = [sys.executable, "-m", "geocolor.cli", "--quiet", "prepare", "--s1", str(s1)]
    command += ["--s2", str(s2), "-o", str(store), *TILE, "--speckle", "refined-lee"]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while not list(store.glob("pairs/*/s1/zarr.json")) and time.monotonic() < deadline:
        assert process.poll() is None, "prepare finished before it could be interrupted"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    root = open_store(str(store), "r")
    assert complete_pairs(root) == []  # the interrupted pair is not marked complete
    assert (
        main(["--quiet", "prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store), *TILE]) == 0
    )
    assert len(complete_pairs(open_store(str(store), "r"))) == 1
    assert len(read_tiles(open_store(str(store), "r"))) > 5


def test_aoi_restricts_the_work(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = tmp_path / "full.zarr"
    assert prepare(scenes, full, *TILE) == 0
    small = tmp_path / "aoi.zarr"
    footprint = (
        open_s2(str(scenes[1]))
        .footprint()
        .intersection(
            __import__("geocolor.s1.safe", fromlist=["open_safe"])
            .open_safe(str(scenes[0]))
            .footprint()
        )
    )
    minx, miny, maxx, maxy = footprint.bounds
    aoi = f"{minx},{miny},{(minx + maxx) / 2},{(miny + maxy) / 2}"
    assert prepare(scenes, small, *TILE, "--aoi", aoi) == 0
    full_root, small_root = open_store(str(full), "r"), open_store(str(small), "r")
    (pair,) = complete_pairs(small_root)
    assert small_root[f"pairs/{pair}/s1"].shape[1] < full_root[f"pairs/{pair}/s1"].shape[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--aoi", "20.0,10.0,20.1,10.1"], "0 tiles, because"),
        (["--max-days", "-1"], "max_days"),
    ],
)
def test_nothing_produced_is_a_clear_failure(
    scenes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    assert prepare(scenes, tmp_path / "s.zarr", *TILE, *extra) != 0
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_all_cloud_scene(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloudy = write_synthetic_s2(tmp_path, layout=LAYOUT, seed=1, cloud_fraction=1.0)
    assert prepare((scenes[0], cloudy), tmp_path / "s.zarr", *TILE) == 1
    err = capsys.readouterr().err
    assert "0 tiles, because every tile of" in err and "cloud" in err


def test_products_that_do_not_overlap(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = write_synthetic_s2(
        tmp_path, layout=SceneLayout(centre_lon=12.0, centre_lat=47.0, lines=300, samples=300)
    )
    assert prepare((scenes[0], elsewhere), tmp_path / "s.zarr", *TILE) == 1
    assert "no Sentinel-1 product overlaps it" in capsys.readouterr().err


def test_unreadable_product_and_unwritable_store(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "S1A_broken.zip"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    assert prepare((broken, scenes[1]), tmp_path / "s.zarr") == 1
    assert str(broken) in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    # refused before any work, as a usage error (tests/test_output_safety.py)
    assert prepare(scenes, blocker / "s.zarr", *TILE) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err


def test_runs_on_an_existing_cluster(scenes: tuple[Path, Path], tmp_path: Path) -> None:
    from distributed import LocalCluster

    store = tmp_path / "pairs.zarr"
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        assert prepare(scenes, store, *TILE, "--scheduler", cluster.scheduler_address) == 0
    assert len(read_tiles(open_store(str(store), "r"))) > 5


def test_correct_shift_replaces_the_unaligned_array(
    scenes: tuple[Path, Path], tmp_path: Path
) -> None:
    store = tmp_path / "pairs.zarr"
    assert prepare(scenes, store, *TILE, "--correct-shift") == 0
    root = open_store(str(store), "r")
    (pair,) = complete_pairs(root)
    group = root[f"pairs/{pair}"]
    assert isinstance(group, zarr.Group)
    assert set(group.array_keys()) == {"s1", "s2", "mask"}
    dy, dx = group.attrs["shift"]
    assert abs(dy) < 2 and abs(dx) < 2  # the synthetic pair is co-registered
