"""``geocolor store check``: corrupt chunks, blanked pairs and lost index columns are found,
named by array and chunk, and repaired so that ``prepare`` redoes them."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import GeocolorError, TileReadError
from geocolor.prepare.catalog import catalog_folder
from geocolor.prepare.store import complete_pairs, group_array, open_store, read_tiles
from geocolor.train.dataset import read_sample

LAYOUT = SceneLayout(lines=300, samples=400)
TILE = 64


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A sound store of one pair, and the arguments of the ``prepare`` that made it."""
    folder = tmp_path_factory.mktemp("prepared")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=4)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=4, cloud_fraction=0.1)
    store = folder / "pairs.zarr"
    args = ["--quiet", "prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store)]
    args += ["--tile-size", str(TILE), "--min-valid", "0.9", "--max-cloud", "0.2"]
    assert main(args) == 0
    return store, args


@pytest.fixture
def store(prepared: tuple[Path, list[str]], tmp_path: Path) -> Path:
    """A copy of the prepared store (and its catalogue) for a test to damage."""
    source, _ = prepared
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    shutil.copytree(catalog_folder(str(source)), catalog_folder(str(copy)))
    return copy


def only_pair(store: Path) -> str:
    (pair,) = complete_pairs(open_store(str(store), "r"))
    return pair


def check(capsys: pytest.CaptureFixture[str], store: Path, *extra: str) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["store", "check", str(store), *extra])
    captured = capsys.readouterr()
    return code, captured.out.splitlines() + captured.err.splitlines()


def first_kept_chunk(store: Path, pair: str) -> tuple[int, int, Path]:
    tiles = read_tiles(open_store(str(store), "r"))
    row, col = int(tiles.row[0]), int(tiles.col[0])
    return row, col, store / "pairs" / pair / "s1" / "c" / "0" / str(row // TILE) / str(col // TILE)


def test_a_sound_store_passes(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(capsys, store) == (0, ["1 of 1 complete pairs are sound"])
    assert check(capsys, store, "--quick")[0] == 0


def test_a_corrupt_chunk_is_named_by_check_and_by_training_reads(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = only_pair(store)
    row, col, chunk = first_kept_chunk(store, pair)
    chunk.write_bytes(b"not zstd" * 16)
    key = f"c/0/{row // TILE}/{col // TILE}"
    named = f"{store}/pairs/{pair}/s1: chunk {key} cannot be read ("

    code, lines = check(capsys, store)
    assert code == 1
    assert any(line.startswith(f"{pair}: {named}") for line in lines)
    assert lines[-1].startswith(f"geocolor: error: {store}: 1 complete pairs do not hold")

    with pytest.raises(TileReadError) as caught:
        read_sample(open_store(str(store), "r"), pair, row, col, TILE)
    assert str(caught.value).startswith(named) and "\n" not in str(caught.value)
    # a DataLoader worker's error comes back as torch's formatted traceback: one line again
    rebuilt = TileReadError(
        "Caught TileReadError in DataLoader worker process 0.\nOriginal Traceback (most recent"
        f" call last):\n  File ...\ngeocolor.errors.TileReadError: {caught.value}\n"
    )
    assert str(rebuilt) == str(caught.value)


def test_a_blanked_pair_is_found_even_by_a_quick_check(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = only_pair(store)
    shutil.rmtree(store / "pairs" / pair / "s1" / "c")  # every chunk gone: all NaN
    for extra in ((), ("--quick",)):
        code, lines = check(capsys, store, *extra)
        assert code == 1
        assert f"{pair}: {store}/pairs/{pair}/s1: no data at all, while" in lines[0]


def test_half_blanked_tile_disagrees_with_its_valid_fraction(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pair = only_pair(store)
    root = open_store(str(store), "r+")
    tiles = read_tiles(root)
    row, col = int(tiles.row[-1]), int(tiles.col[-1])
    group_array(root, f"pairs/{pair}/s2")[:, row : row + TILE // 2, col : col + TILE] = np.nan
    code, lines = check(capsys, store)
    assert code == 1
    assert f"tile {int(tiles.tile_id[-1])} (row {row}, col {col}) is" in lines[0]
    assert check(capsys, store, "--quick")[0] == 0  # only the first tile's pixels are read


def test_a_lost_index_column_is_named(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pair = only_pair(store)
    shutil.rmtree(store / "pairs" / pair / "tiles" / "split")
    code, lines = check(capsys, store, "--quick")
    assert code == 1
    assert lines[0] == f"{pair}: {store}/pairs/{pair}/tiles/split: missing from the store"
    with pytest.raises(GeocolorError, match="tiles/split: missing from the store"):
        read_tiles(open_store(str(store), "r"))


def test_repair_unmarks_and_prepare_redoes_the_pair(
    store: Path, prepared: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    pair = only_pair(store)
    shutil.rmtree(store / "pairs" / pair / "s1" / "c")
    code, lines = check(capsys, store, "--repair")
    assert code == 0 and lines[-1] == f"unmarked {pair}: run prepare again to redo them"
    assert complete_pairs(open_store(str(store), "r")) == []
    catalogue = Path(catalog_folder(str(store)))
    assert not (catalogue / "items" / f"{pair}.json").exists()
    assert not (catalogue / "collection.json").exists()

    source, args = prepared
    assert main([str(store) if arg == str(source) else arg for arg in args]) == 0
    assert check(capsys, store) == (0, ["1 of 1 complete pairs are sound"])
    assert (catalogue / "items" / f"{pair}.json").exists()
