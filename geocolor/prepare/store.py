"""The prepared training store (Zarr v3): one group per S1/S2 pair on a shared grid.

Layout::

    STORE/                         attrs: format, geocolor version, tile size, bands
      pairs/<pair_id>/             attrs: products, CRS, transform, shift, complete
        s1     float32 (s1 bands, rows, cols)  backscatter in dB, NaN = nodata
        s2     float32 (s2 bands, rows, cols)  reflectance, NaN = nodata
        mask   uint8 (1, rows, cols)           1 where SCL masks the pixel (cloud, shadow...)
        tiles/ one 1-D array per tile-index column (row, col, bounds, fractions, split)

Arrays are chunked by tile, all bands in one chunk, so one training sample is one chunk
read per modality. A pair is marked ``complete`` only after all of it is written: a
run interrupted mid-pair leaves it incomplete and the next run redoes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import dask.array as da
import numpy as np
import zarr
import zarr.errors
from distributed import Client, as_completed
from zarr.codecs import BloscCodec
from zarr.types import AnyArray

from geocolor import __version__
from geocolor.errors import GeocolorError, TileReadError, one_line
from geocolor.prepare.tiling import Split
from geocolor.progress import progress_bar

FORMAT = "geocolor-pairs/1"
PAIRS = "pairs"
TILES = "tiles"


@dataclass(frozen=True)
class TileTable:
    """The tile index as columns: one entry per kept tile."""

    pair: np.ndarray
    tile_id: np.ndarray
    row: np.ndarray
    col: np.ndarray
    x_min: np.ndarray
    y_min: np.ndarray
    x_max: np.ndarray
    y_max: np.ndarray
    valid_fraction: np.ndarray
    cloud_fraction: np.ndarray
    split: np.ndarray

    def __len__(self) -> int:
        return int(self.row.size)

    def select(self, keep: np.ndarray) -> TileTable:
        """The rows where ``keep`` is true (a boolean mask or indices)."""
        return TileTable(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})

    def of_split(self, split: Split) -> TileTable:
        """Only the tiles of ``split``."""
        return self.select(self.split == int(split))


def open_store(path: str, mode: Literal["r", "r+", "a", "w"] = "a") -> zarr.Group:
    """Open (or, in mode ``a``/``w``, create) a store and check it is a geocolor store."""
    try:
        root = zarr.open_group(path, mode=mode, zarr_format=3)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        raise GeocolorError(f"{path}: no geocolor store here") from None
    except (OSError, ValueError) as exc:
        raise GeocolorError(f"{path}: cannot open store ({exc})") from None
    found = root.attrs.get("format")
    if found is None and mode in {"a", "w"} and not list(root.keys()):
        root.attrs.update({"format": FORMAT, "geocolor_version": __version__})
    elif found != FORMAT:
        raise GeocolorError(f"{path}: not a geocolor training store (format {found!r})")
    return root


def complete_pairs(root: zarr.Group) -> list[str]:
    """Names of the pairs written to the end, sorted."""
    if PAIRS not in root:
        return []
    pairs = root[PAIRS]
    assert isinstance(pairs, zarr.Group)
    return sorted(name for name, group in pairs.groups() if group.attrs.get("complete") is True)


def begin_pair(root: zarr.Group, pair_id: str) -> zarr.Group:
    """Create (or recreate, dropping a stale partial one) the group of one pair.

    The group is marked incomplete until :func:`finish_pair`, so an interrupted pair is
    redone by the next run.
    """
    path = f"{PAIRS}/{pair_id}"
    if path in root:
        del root[path]
    group = root.create_group(path)
    group.attrs["complete"] = False
    return group


def create_tile_array(group: zarr.Group, name: str, like: Any, tile: int) -> AnyArray:
    """An empty (band, rows, cols) array shaped like ``like``, one chunk per tile."""
    dtype = np.dtype(like.dtype)
    return group.create_array(
        name,
        shape=like.shape,
        chunks=(like.shape[0], tile, tile),
        dtype=dtype,
        fill_value=np.nan if dtype.kind == "f" else 0,
    )


def write_tile_arrays(
    group: zarr.Group, layers: Mapping[str, da.Array], client: Client, tile: int
) -> None:
    """Compute ``layers`` on the cluster and store them in ``group``, chunk by chunk.

    Each store chunk is computed and written by one task (workers write straight into
    the store, so nothing travels back but a flag), with a progress bar over chunks.
    """
    markers = []
    for name, layer in layers.items():
        # dask leaves Array.rechunk unannotated
        chunked = layer.rechunk((-1, tile, tile))
        markers.extend(_chunk_writes(chunked, group_array(group, name)))
    _run(markers, client)


def hold(image: da.Array, group: zarr.Group, name: str, client: Client) -> da.Array:
    """Compute ``image`` into a scratch array ``name`` of ``group`` and read it back lazily.

    Breaking a graph here bounds memory: later stages read windows of the stored
    array instead of keeping the upstream chunks they share alive. The scratch array
    is chunked like ``image`` and compressed for speed (LZ4), not size.
    """
    target = group.create_array(
        name,
        shape=image.shape,
        chunks=tuple(max(axis) for axis in image.chunks),
        dtype=image.dtype,
        fill_value=np.nan if np.dtype(image.dtype).kind == "f" else 0,
        compressors=[BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")],
        overwrite=True,
        # every chunk is read back, so zarr's scan of each for the fill value is waste
        config={"write_empty_chunks": True},
    )
    _run(_chunk_writes(image, target), client)
    # dask leaves from_zarr unannotated
    held: da.Array = da.from_zarr(target)
    return held


def _chunk_writes(image: da.Array, target: AnyArray) -> list[Any]:
    """One delayed write per chunk of ``image``, each returning a tiny flag."""
    # dask leaves map_blocks unannotated
    marker = da.map_blocks(
        _write_chunk,
        image,
        target,
        dtype=bool,
        chunks=tuple((1,) * len(axis) for axis in image.chunks),
    )
    return list(marker.to_delayed().ravel())


def _run(tasks: list[Any], client: Client) -> None:
    # distributed leaves Client.compute and as_completed unannotated
    futures = client.compute(tasks)
    with progress_bar(len(futures), desc="chunks", unit="chunk") as bar:
        for future in as_completed(futures):
            future.result()
            bar.update(1)


def _write_chunk(block: np.ndarray, target: AnyArray, block_info: dict[Any, Any]) -> np.ndarray:
    location = block_info[0]["array-location"]
    target[tuple(slice(start, stop) for start, stop in location)] = block
    return np.ones((1,) * block.ndim, dtype=bool)


def write_tiles(group: zarr.Group, table: TileTable) -> None:
    """Store the pair's tile index next to its arrays."""
    for column in fields(table):
        if column.name == "pair":
            continue
        values = np.asarray(getattr(table, column.name))
        array = group.create_array(
            f"{TILES}/{column.name}",
            shape=values.shape,
            chunks=(max(values.size, 1),),
            dtype=values.dtype,
        )
        array[:] = values


def finish_pair(group: zarr.Group, summary: Mapping[str, Any]) -> None:
    """Mark the pair complete: the last write of a pair."""
    group.attrs.update({**summary, "complete": True})


def read_tiles(root: zarr.Group) -> TileTable:
    """The tile index of every complete pair, concatenated."""
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in fields(TileTable)}
    for name in complete_pairs(root):
        tiles = root[f"{PAIRS}/{name}/{TILES}"]
        assert isinstance(tiles, zarr.Group)
        columns = {
            column: read_window(group_array(tiles, column), (slice(None),))
            for column in parts
            if column != "pair"
        }
        counts = {values.size for values in columns.values()}
        if len(counts) != 1:
            raise GeocolorError(
                f"{node_path(tiles)}: tile index columns of different lengths {sorted(counts)}"
            )
        for column, values in columns.items():
            parts[column].append(values)
        parts["pair"].append(np.full(counts.pop(), name, dtype=object))
    if not parts["row"]:
        raise GeocolorError("the store holds no complete pair: run `geocolor prepare` first")
    return TileTable(**{column: np.concatenate(values) for column, values in parts.items()})


def read_tile(
    root: zarr.Group, pair: str, row: int, col: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The S1 and S2 arrays of one tile: (bands, size, size) each."""
    window = tile_window(row, col, size)
    s1 = read_window(group_array(root, f"{PAIRS}/{pair}/s1"), window)
    s2 = read_window(group_array(root, f"{PAIRS}/{pair}/s2"), window)
    return s1, s2


def tile_window(row: int, col: int, size: int) -> tuple[slice, slice, slice]:
    """The (band, rows, cols) selection of the tile at ``row``, ``col``."""
    return (slice(None), slice(row, row + size), slice(col, col + size))


def read_window(array: AnyArray, window: tuple[slice, ...]) -> np.ndarray:
    """``array[window]``, or a :class:`TileReadError` naming the array and the bad chunk.

    Codecs fail with bare messages (``Zstd decompression error``); the failing chunk
    is found by reading the window's chunks one by one, only once a read has failed.
    """
    try:
        return np.asarray(array[window])
    except Exception as exc:  # codecs and stores raise RuntimeError, ValueError, OSError...
        raise _chunk_error(array, window, exc) from None


def _chunk_error(array: AnyArray, window: tuple[slice, ...], exc: Exception) -> TileReadError:
    spans = [
        range(start // chunk, max(start // chunk + 1, -(-stop // chunk)))
        for (start, stop, _), chunk in zip(
            (part.indices(extent) for part, extent in zip(window, array.shape, strict=True)),
            array.chunks,
            strict=True,
        )
    ]
    bad, reason = None, one_line(exc)
    for coords in itertools.product(*spans):
        try:
            array.blocks[coords]
        except Exception as chunk_exc:  # the same failure, now tied to one chunk
            bad, reason = coords, one_line(chunk_exc)
            break
    key = "?" if bad is None else array.metadata.encode_chunk_key(bad)
    return TileReadError(f"{node_path(array)}: chunk {key} cannot be read ({reason})")


def node_path(node: zarr.Group | AnyArray) -> str:
    """Where a group or array of the store lies, as its user wrote the store's path."""
    return str(node.store_path).removeprefix("file://")


def group_array(group: zarr.Group, name: str) -> AnyArray:
    """The array ``name`` under ``group`` (an error if the store has something else)."""
    try:
        node = group[name]
    except KeyError:
        raise GeocolorError(f"{node_path(group)}/{name}: missing from the store") from None
    if not isinstance(node, zarr.Array):
        raise GeocolorError(f"{node_path(group)}/{name}: expected an array in the store")
    return node


def store_tile_size(root: zarr.Group) -> int:
    """The side of the store's tiles: its root attribute ``tile_size``, set by ``prepare``.

    The attribute is the one record of it; every pair's arrays are chunked by it, and
    :func:`check_tile_chunks` tells a pair that is not apart.
    """
    held = root.attrs.get("tile_size")
    if not isinstance(held, int) or isinstance(held, bool) or held < 1:
        raise GeocolorError(f"{root.store_path}: the store records no tile size; prepare it anew")
    return held


def check_tile_chunks(group: zarr.Group, tile_size: int) -> None:
    """Refuse a pair whose arrays are not chunked one tile of ``tile_size`` per chunk."""
    for name in ("s1", "s2", "mask"):
        chunks = group_array(group, name).chunks
        if tuple(chunks[1:]) != (tile_size, tile_size):
            raise GeocolorError(
                f"{group.store_path}/{name}: chunks of {chunks[1]} x {chunks[2]} pixels, "
                f"not the store's tile size {tile_size}"
            )
