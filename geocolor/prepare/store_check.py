"""Does a pair's data say what its tile index says? Checked before a pair is marked complete.

A pair marked complete is trusted by every later run (``prepare`` skips it, training
reads it), so a pair whose arrays were blanked, whose index lost a column or whose
chunks cannot be decoded would be trusted for ever. :func:`pair_problems` reads the
pair back: its arrays and index columns are there and agree in shape; the count of
index rows is the ``tiles_kept`` it recorded; each kept tile's S1 and S2 chunks decode
and are valid over the fraction the index says. ``prepare`` runs it before the
completion mark; ``geocolor store check`` runs it over every complete pair and, asked
to repair, unmarks the failing ones so that the next ``prepare`` redoes them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import numpy as np
import zarr
from zarr.types import AnyArray

from geocolor.errors import GeocolorError
from geocolor.prepare.store import (
    PAIRS,
    TILES,
    TileTable,
    check_tile_chunks,
    complete_pairs,
    group_array,
    node_path,
    read_window,
    tile_window,
)

ARRAYS = ("s1", "s2", "mask")
INDEX_COLUMNS = tuple(f.name for f in fields(TileTable) if f.name != "pair")
VALID_TOLERANCE = 1e-6
#: Arrays up to this size are read back whole once rather than tile by tile.
WHOLE_READ_BYTES = 64 * 2**20
"""How far a tile's valid fraction read back may be from the index's (float rounding)."""


@dataclass(frozen=True)
class PairProblem:
    """One thing wrong with a complete pair, naming the array (and chunk or tile)."""

    pair: str
    problem: str

    def line(self) -> str:
        """The report line: the pair, then what is wrong."""
        return f"{self.pair}: {self.problem}"


def pair_problems(group: zarr.Group, tile_size: int, *, quick: bool = False) -> list[str]:
    """What is wrong with one pair's stored arrays and tile index (empty when nothing).

    Parameters
    ----------
    group
        The pair's group.
    tile_size
        The store's tile side.
    quick
        Check the structure, the index and whether data chunks exist at all, reading
        only the first kept tile's pixels; otherwise read every kept tile.
    """
    try:
        arrays = {name: group_array(group, name) for name in ARRAYS}
        check_tile_chunks(group, tile_size)
        index = {
            name: read_window(group_array(group, f"{TILES}/{name}"), (slice(None),))
            for name in INDEX_COLUMNS
        }
    except GeocolorError as exc:
        return [str(exc)]
    problems = []
    shapes = {name: array.shape[1:] for name, array in arrays.items()}
    if len(set(shapes.values())) != 1:
        problems.append(f"{node_path(group)}: arrays of different sizes {shapes}")
    counts = {values.size for values in index.values()}
    if len(counts) != 1:
        problems.append(f"{node_path(group)}/{TILES}: columns of different lengths")
        return problems
    kept = counts.pop()
    recorded = group.attrs.get("tiles_kept")
    if recorded is not None and recorded != kept:
        problems.append(f"{node_path(group)}/{TILES}: {kept} tiles, the pair records {recorded}")
    if not kept:
        return problems
    for name in ("s1", "s2"):
        if arrays[name].nchunks_initialized == 0:
            problems.append(
                f"{node_path(arrays[name])}: no data at all, while {kept} tiles claim some"
            )
    if problems:
        return problems
    tiles = range(1) if quick else range(kept)
    problems.extend(_tile_problems(arrays, index, tiles, tile_size))
    return problems


def _tile_problems(
    arrays: dict[str, AnyArray],
    index: dict[str, np.ndarray],
    tiles: range,
    size: int,
) -> Iterator[str]:
    """Each listed tile's chunks decode and are valid over the fraction the index says."""
    read = {name: _window_reader(array, len(tiles)) for name, array in arrays.items()}
    for position in tiles:
        row, col = int(index["row"][position]), int(index["col"][position])
        window = tile_window(row, col, size)
        try:
            s1, s2 = (read[name](window) for name in ("s1", "s2"))
            read["mask"](window)
        except GeocolorError as exc:
            yield str(exc)
            continue
        valid = float((np.isfinite(s1).all(0) & np.isfinite(s2).all(0)).mean())
        claimed = float(index["valid_fraction"][position])
        if abs(valid - claimed) > VALID_TOLERANCE:
            yield (
                f"{node_path(arrays['s1'])} and s2: tile {int(index['tile_id'][position])} "
                f"(row {row}, col {col}) is {valid:.0%} valid, the index says {claimed:.0%}"
            )


def _window_reader(
    array: AnyArray, tiles: int
) -> Callable[[tuple[slice, slice, slice]], np.ndarray]:
    """How to read tile windows of ``array``: from one read of it all when it is small.

    A group of small packed patches (``geocolor import``) is read back whole in one
    request per array, not one per tile; a large array, or one that fails to decode
    whole, is read tile by tile, so each bad tile is named.
    """
    if tiles > 1 and array.nbytes <= WHOLE_READ_BYTES:
        try:
            values = read_window(array, (slice(None),) * array.ndim)
        except GeocolorError:
            pass
        else:
            return lambda window: values[window]
    return lambda window: read_window(array, window)


def check_complete_pairs(
    root: zarr.Group, tile_size: int, *, quick: bool = False
) -> list[PairProblem]:
    """Every problem of every pair marked complete, pair by pair."""
    problems: list[PairProblem] = []
    for name in complete_pairs(root):
        group = root[f"{PAIRS}/{name}"]
        assert isinstance(group, zarr.Group)
        problems.extend(
            PairProblem(name, line) for line in pair_problems(group, tile_size, quick=quick)
        )
    return problems


def unmark(root: zarr.Group, pair_ids: set[str]) -> None:
    """Mark pairs incomplete: the next ``prepare`` of their products redoes them."""
    for name in sorted(pair_ids):
        root[f"{PAIRS}/{name}"].attrs["complete"] = False
