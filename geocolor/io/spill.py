"""Scratch images on local disk: a lazy image computed once into a ``.npy`` file.

A job that reads windows of a computed image many times over (``colorize`` reads
overlapping tiles) computes it once into a memory-mapped ``.npy`` instead of keeping it
in memory. On a local cluster the workers, threads of this process, write their blocks
straight into the file; a remote cluster's workers cannot see it, so there the blocks
come back to this process to be written. No array store is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
from dask.base import tokenize
from distributed import Client, as_completed
from numpy.lib.format import open_memmap

from geocolor.io.cog import stream_blocks
from geocolor.progress import progress_bar


def shares_disk(client: Client) -> bool:
    """Whether ``client``'s workers run here (a cluster this process started) and see its files."""
    return client.cluster is not None


def spill(image: da.Array, path: str | Path, client: Client, desc: str = "spilling") -> np.ndarray:
    """Compute ``image`` into the ``.npy`` file ``path``; the file, memory-mapped read-only.

    Parameters
    ----------
    image
        Lazy (band, rows, cols) image; its chunks are the blocks written.
    path
        A local file, created here.
    client
        The cluster computing the blocks; see :func:`shares_disk` for who writes them.
    desc
        Progress bar label.
    """
    target = open_memmap(path, mode="w+", dtype=image.dtype, shape=image.shape)
    if shares_disk(client):
        del target  # each worker opens the file itself
        _write_on_workers(image, str(path), client, desc)
    else:

        def store(block: np.ndarray, row0: int, col0: int) -> None:
            target[:, row0 : row0 + block.shape[1], col0 : col0 + block.shape[2]] = block

        stream_blocks(image, client, store, desc=desc)
        target.flush()
        del target
    spilled: np.ndarray = np.load(path, mmap_mode="r")
    return spilled


def spilled_lazily(image: da.Array, path: str | Path, client: Client) -> da.Array:
    """:func:`spill` on a cluster sharing this disk, then the file re-read lazily.

    Breaking a graph here bounds memory: later stages read windows of the file
    instead of keeping the upstream chunks they share alive. The result is chunked
    like ``image``.
    """
    if not shares_disk(client):
        raise ValueError("a remote cluster's workers cannot read this process's scratch files")
    spill(image, path, client)
    # dask leaves map_blocks unannotated
    spilled: da.Array = da.map_blocks(
        _read_block,
        path=str(path),
        name=f"spilled-{tokenize(image.name, str(path))}",
        chunks=image.chunks,
        dtype=image.dtype,
        meta=np.empty((0,) * image.ndim, dtype=image.dtype),
    )
    return spilled


def _write_on_workers(image: da.Array, path: str, client: Client, desc: str) -> None:
    """One task per block writes it into the file and returns a tiny flag."""
    # dask's map_blocks and to_delayed, distributed's Client.compute and as_completed
    # are unannotated
    marker = da.map_blocks(
        _write_block,
        image,
        path=path,
        dtype=bool,
        chunks=tuple((1,) * len(axis) for axis in image.chunks),
    )
    futures = client.compute(list(marker.to_delayed().ravel()))
    with progress_bar(len(futures), desc=desc, unit="block") as bar:
        for future in as_completed(futures):
            future.result()
            bar.update(1)


def _write_block(block: np.ndarray, path: str, block_info: dict[Any, Any]) -> np.ndarray:
    location = block_info[0]["array-location"]
    target = np.load(path, mmap_mode="r+")
    target[tuple(slice(start, stop) for start, stop in location)] = block
    target.flush()
    return np.ones((1,) * block.ndim, dtype=bool)


def _read_block(path: str, block_info: dict[Any, Any]) -> np.ndarray:
    location = block_info[None]["array-location"]
    source = np.load(path, mmap_mode="r")
    return np.array(source[tuple(slice(start, stop) for start, stop in location)])
