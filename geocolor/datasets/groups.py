"""Packing many small patches into one pair group of the store, written by one task.

A store chunk per 120 px patch would be millions of files. A group of the store holds
up to ``pack`` patches side by side: arrays of (bands, size, pack * size), chunked one
patch per chunk (so training still reads one chunk per sample) and sharded one group
per shard, so a group's modality is one file. The tile index has one row per patch;
its bounds are the patch's own, in the patch's CRS (listed per patch in ``patches``).

A group is begun incomplete and marked complete last, after it is read back
(:func:`geocolor.prepare.store_check.pair_problems`), so a killed import leaves no group
marked complete that is not whole, and the next run redoes the unfinished ones.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import zarr

from geocolor import __version__
from geocolor.datasets.patches import Candidate, DatasetReader, PatchPair, SkippedPair
from geocolor.datasets.splits import SplitRule
from geocolor.errors import GeocolorError
from geocolor.prepare.store import TileTable, begin_pair, finish_pair, open_store, write_tiles
from geocolor.prepare.store_check import pair_problems


@dataclass(frozen=True)
class GroupPlan:
    """The candidates one task packs into one group, and the group's name."""

    group_id: str
    candidates: tuple[Candidate, ...]


@dataclass
class GroupResult:
    """What became of one group's candidates."""

    group_id: str
    kept: int = 0
    skipped: list[str] = field(default_factory=list)
    unsplit: int = 0
    nodata: int = 0
    excluded: int = 0


def plan_groups(candidates: Iterable[Candidate], pack: int, dataset: str) -> Iterator[GroupPlan]:
    """Consecutive runs of ``pack`` candidates, each named by its position and members.

    The name hashes the member names, so a rerun over the same listing finds its
    complete groups again and a different listing never mistakes one for its own.
    """
    stream = iter(candidates)
    for index in itertools.count():
        members = tuple(itertools.islice(stream, pack))
        if not members:
            return
        digest = hashlib.sha256("\0".join(c.name for c in members).encode()).hexdigest()[:8]
        yield GroupPlan(f"{dataset}-{index:06d}-{digest}", members)


def write_group(
    store: str, plan: GroupPlan, reader: DatasetReader, rule: SplitRule, min_valid: float
) -> GroupResult:
    """Read a group's patches, write them packed into ``store`` and mark the group complete.

    Patches ``rule`` excludes (cloud and snow lists) and patches valid (S1 and S2
    finite) over less than ``min_valid`` of their pixels are dropped, as ``prepare``
    drops such tiles. Runs on a Dask worker: it opens the store
    itself and sends back only the summary.
    """
    result = GroupResult(plan.group_id)
    patches: list[tuple[PatchPair, int]] = []
    for candidate in plan.candidates:
        read = reader.read(candidate)
        if isinstance(read, SkippedPair):
            result.skipped.append(f"{read.name}: skipped ({read.reason})")
            continue
        if rule.excludes((read.name, read.partner)):
            result.excluded += 1
            continue
        if _valid_fraction(read) < min_valid:
            result.nodata += 1
            continue
        split = rule.split((read.name, read.partner), candidate.holdout, read.crs, read.bounds())
        if split is None:
            result.unsplit += 1
            continue
        patches.append((read, int(split)))
    if not patches:
        return result
    root = open_store(store, "r+")
    group = begin_pair(root, plan.group_id)
    size = reader.patch_size
    _write_arrays(group, [patch for patch, _ in patches], size)
    write_tiles(group, _tile_table(plan.group_id, patches, size))
    group.attrs.update(_attrs(reader, [patch for patch, _ in patches]))
    problems = pair_problems(group, size)
    if problems:
        raise GeocolorError(f"{plan.group_id}: not marked complete: {problems[0]}")
    result.kept = len(patches)
    finish_pair(group, {"tiles_kept": result.kept, "tiles_dropped": {}})
    return result


def _write_arrays(group: zarr.Group, patches: list[PatchPair], size: int) -> None:
    """s1, s2 and mask arrays: patches side by side, a chunk per patch, a shard per group.

    The datasets carry no cloud mask of their own, so nothing is masked: the mask is
    created and left unwritten, every chunk reading as its fill value 0.
    """
    width = size * len(patches)
    layers = {
        "s1": np.concatenate([patch.s1 for patch in patches], axis=2),
        "s2": np.concatenate([patch.s2 for patch in patches], axis=2),
        "mask": None,
    }
    for name, values in layers.items():
        shape = (1, size, width) if values is None else values.shape
        dtype = np.dtype(np.uint8) if values is None else values.dtype
        array = group.create_array(
            name,
            shape=shape,
            chunks=(shape[0], size, size),
            shards=shape,
            dtype=dtype,
            fill_value=np.nan if dtype.kind == "f" else 0,
        )
        if values is not None:
            array[:] = values


def _tile_table(group_id: str, patches: list[tuple[PatchPair, int]], size: int) -> TileTable:
    count = len(patches)
    bounds = np.array([patch.bounds() for patch, _ in patches], dtype=np.float64).reshape(-1, 4)
    valid = [_valid_fraction(patch) for patch, _ in patches]
    return TileTable(
        pair=np.full(count, group_id, dtype=object),
        tile_id=np.arange(count, dtype=np.int32),
        row=np.zeros(count, dtype=np.int32),
        col=(np.arange(count) * size).astype(np.int32),
        x_min=bounds[:, 0],
        y_min=bounds[:, 1],
        x_max=bounds[:, 2],
        y_max=bounds[:, 3],
        valid_fraction=np.array(valid, dtype=np.float64),
        cloud_fraction=np.zeros(count, dtype=np.float64),
        split=np.array([split for _, split in patches], dtype=np.uint8),
    )


def _valid_fraction(patch: PatchPair) -> float:
    return float((np.isfinite(patch.s1).all(0) & np.isfinite(patch.s2).all(0)).mean())


def _attrs(reader: DatasetReader, patches: list[PatchPair]) -> dict[str, Any]:
    """Provenance and conventions of the group; per patch its name, partner and grid."""
    return {
        "dataset": reader.name,
        "s1_bands": list(reader.s1_bands),
        "s2_bands": list(reader.s2_bands),
        "parameters": reader.parameters,
        "patches": [
            {
                "name": patch.name,
                "partner": patch.partner,
                "crs": patch.crs,
                "transform": list(patch.transform),
            }
            for patch in patches
        ],
        "geocolor_version": __version__,
    }
