"""Training samples from the prepared store, as the tensors of :mod:`geocolor.models.backend`.

A sample is one tile: one chunk read per modality (S1, S2, mask), since the store is
chunked by tile (up to four with overlapping tiles, stride < tile size). Randomness
(crop offset, flips, rotation) is drawn from a generator seeded by (seed, epoch, tile
index), so a sample is the same whichever worker or rank loads it and a resumed run sees
the data a straight run would have seen. The loader's sampler hands out (epoch, index)
pairs, so workers kept alive across epochs (``persistent``) draw each epoch's
augmentation without being told of the epoch. Training batches can be drawn from one
scene (store pair) each, so that norm layers trained on batch statistics see a sample of
the statistics ``colorize`` pools over a scene. The store is opened lazily in each
process, never shared across a fork.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import zarr
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from geocolor.errors import GeocolorError
from geocolor.models.normalisation import Normalisation
from geocolor.prepare.store import (
    PAIRS,
    TileTable,
    check_tile_chunks,
    complete_pairs,
    group_array,
    open_store,
    read_tile,
    read_window,
    store_tile_size,
    tile_window,
)

log = logging.getLogger("geocolor.train.dataset")

Sample = dict[str, torch.Tensor]


@dataclass(frozen=True)
class StoreLayout:
    """What every pair of a store shares: band names and tile (chunk) size."""

    sar_bands: tuple[str, ...]
    optical_bands: tuple[str, ...]
    tile_size: int


def store_layout(root: zarr.Group) -> StoreLayout:
    """The store's tile size and the bands of its complete pairs, which must all agree."""
    tile_size = store_tile_size(root)
    layouts: dict[str, StoreLayout] = {}
    for name in complete_pairs(root):
        group = root[f"{PAIRS}/{name}"]
        assert isinstance(group, zarr.Group)
        try:
            sar_bands, optical_bands = group.attrs["s1_bands"], group.attrs["s2_bands"]
        except KeyError as exc:
            raise GeocolorError(f"{group.store_path}: pair attributes lack {exc}") from None
        assert isinstance(sar_bands, list) and isinstance(optical_bands, list)
        check_tile_chunks(group, tile_size)
        layouts[name] = StoreLayout(
            tuple(map(str, sar_bands)), tuple(map(str, optical_bands)), tile_size
        )
    if not layouts:
        raise GeocolorError(f"{root.store_path}: the store holds no complete pair")
    first_name, first = next(iter(layouts.items()))
    for name, layout in layouts.items():
        if layout != first:
            raise GeocolorError(
                f"{root.store_path}: pair {name} has {layout}, unlike pair {first_name} ({first})"
            )
    return first


def check_crop(crop: int | None, tile_size: int, store_path: str) -> None:
    """Refuse, before any work, a ``--tile-size`` crop larger than the store's tiles.

    Imported datasets hold small tiles (BigEarthNet's are 120 px), below the default
    crop of other stores, so the message says what would fit.
    """
    if crop is not None and crop > tile_size:
        raise GeocolorError(
            f"{store_path}: a {crop} px crop (--tile-size) cannot fit the store's "
            f"{tile_size} px tiles; use --tile-size {tile_size} or less"
        )


def read_sample(
    root: zarr.Group, pair: str, row: int, col: int, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """S1 dB and S2 reflectance of one tile, and where both are usable.

    Returns
    -------
    sar, optical, valid
        (bands, size, size) float32 twice, and a (size, size) boolean that is false
        where any band is NaN or the SCL mask flags the pixel.
    """
    sar, optical = read_tile(root, pair, row, col, size)
    masked = read_window(group_array(root, f"{PAIRS}/{pair}/mask"), tile_window(row, col, size))
    valid = np.isfinite(sar).all(0) & np.isfinite(optical).all(0) & (masked[0] == 0)
    return sar, optical, valid


def store_sar_processing(root: zarr.Group) -> dict[str, Any] | None:
    """The Sentinel-1 settings and resolution every complete pair was prepared with.

    None (with a warning) when pairs disagree: a model trained on a mix has no single
    processing for ``colorize`` to repeat.
    """
    found = []
    for name in complete_pairs(root):
        parameters = root[f"{PAIRS}/{name}"].attrs.get("parameters")
        if not isinstance(parameters, dict) or not isinstance(parameters.get("s1"), dict):
            return None
        found.append({**parameters["s1"], "resolution": parameters.get("resolution")})
    if not found or any(settings != found[0] for settings in found):
        if found:
            log.warning("%s: pairs were prepared with different S1 settings", root.store_path)
        return None
    return found[0]


def store_optical_conventions(root: zarr.Group) -> dict[str, Any] | None:
    """What every complete pair's Sentinel-2 values are: level, reflectance scale and offset.

    ``parameters.s2`` of each pair (``{"level": "L2A", "scale": 0.0001, "offset": -0.1}``).
    Pairs of one level whose products were scaled differently (baselines before and
    after 04.00) still hold the same reflectance, so a key on which they differ is
    None; pairs of different levels (L1C top-of-atmosphere beside L2A surface
    reflectance) give None with a warning, like :func:`store_sar_processing`.
    """
    found = []
    for name in complete_pairs(root):
        parameters = root[f"{PAIRS}/{name}"].attrs.get("parameters")
        if not isinstance(parameters, dict) or not isinstance(parameters.get("s2"), dict):
            return None
        found.append(parameters["s2"])
    if not found:
        return None
    if any(settings.get("level") != found[0].get("level") for settings in found):
        log.warning("%s: pairs hold Sentinel-2 data of different levels", root.store_path)
        return None
    keys = {key for settings in found for key in settings}
    return {
        key: found[0].get(key)
        if all(settings.get(key) == found[0].get(key) for settings in found)
        else None
        for key in sorted(keys)
    }


def store_fingerprint(root: zarr.Group, tiles: TileTable) -> str:
    """A short hash of the tile index and every pair's provenance attributes.

    Two runs with the same fingerprint trained on the same tiles of the same products
    prepared with the same parameters.
    """
    digest = hashlib.sha256()
    for column in fields(tiles):
        values = getattr(tiles, column.name)
        digest.update(column.name.encode())
        if values.dtype == object:
            digest.update("\0".join(map(str, values)).encode())
        else:
            digest.update(np.ascontiguousarray(values).tobytes())
    for name in complete_pairs(root):
        attrs = dict(root[f"{PAIRS}/{name}"].attrs)
        digest.update(json.dumps({name: attrs}, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


class TileDataset(Dataset[Sample]):
    """Normalised tiles of a store: ``{"sar", "optical", "valid"}`` per sample.

    Parameters
    ----------
    store_path
        The Zarr store, opened on first use in each process.
    tiles
        The tiles to serve (usually one split of :func:`geocolor.prepare.store.read_tiles`).
    normalisation
        Maps dB and reflectance to [-1, 1].
    tile_size
        Stored tile size (:func:`store_layout`).
    crop
        Side of a random square crop of each tile, or ``None`` for whole tiles.
    augment
        Random flips and 90-degree rotations, identical for both domains.
    seed
        Seeds the per-sample crop and augmentation draws.
    """

    def __init__(
        self,
        store_path: str,
        tiles: TileTable,
        normalisation: Normalisation,
        tile_size: int,
        crop: int | None = None,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if crop is not None and not 0 < crop <= tile_size:
            raise GeocolorError(f"crop {crop} must be between 1 and the tile size {tile_size}")
        self.store_path = store_path
        self.tiles = tiles
        self.normalisation = normalisation
        self.tile_size = tile_size
        self.crop = crop
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self._root: zarr.Group | None = None
        self._opened_in: int | None = None

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's crops and augmentations."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.tiles)

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_root": None, "_opened_in": None}

    def __getitem__(self, key: int | tuple[int, int]) -> Sample:
        """Tile ``key``, or ``(epoch, tile)`` as :class:`EpochSampler` draws them."""
        epoch, index = key if isinstance(key, tuple) else (self.epoch, key)
        sar, optical, valid = read_sample(
            self._store(),
            str(self.tiles.pair[index]),
            int(self.tiles.row[index]),
            int(self.tiles.col[index]),
            self.tile_size,
        )
        stack = self._transform(np.concatenate([sar, optical, valid[None]]), epoch, index)
        sar_bands = sar.shape[0]
        sar_unit, _ = self.normalisation.sar_to_unit(torch.from_numpy(stack[:sar_bands]))
        optical_unit, _ = self.normalisation.optical_to_unit(torch.from_numpy(stack[sar_bands:-1]))
        return {
            "sar": sar_unit,
            "optical": optical_unit,
            "valid": torch.from_numpy(stack[-1:] > 0.5).float(),
        }

    def _store(self) -> zarr.Group:
        if self._root is None or self._opened_in != os.getpid():
            self._root = open_store(self.store_path, "r")
            self._opened_in = os.getpid()
        return self._root

    def _transform(self, stack: np.ndarray, epoch: int, index: int) -> np.ndarray:
        """The same crop, flips and rotation for every layer of ``stack`` (C, H, W)."""
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.crop is not None and self.crop < self.tile_size:
            top, left = rng.integers(0, self.tile_size - self.crop + 1, size=2)
            stack = stack[:, top : top + self.crop, left : left + self.crop]
        if self.augment:
            turns, flip_rows, flip_cols = rng.integers(0, 4), rng.random() < 0.5, rng.random() < 0.5
            stack = np.rot90(stack, int(turns), axes=(1, 2))
            if flip_rows:
                stack = stack[:, ::-1]
            if flip_cols:
                stack = stack[:, :, ::-1]
        return np.ascontiguousarray(stack, dtype=np.float32)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (the global generator third-party code uses)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: derive the NumPy and Python seeds from torch's.

    torch seeds each worker from the loader's generator; the other two generators
    would otherwise be copies of the parent's in every forked worker.
    """
    del worker_id  # torch already folded it into initial_seed()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)  # noqa: NPY002
    random.seed(seed)


def scene_batches(scenes: np.ndarray, batch_size: int, generator: torch.Generator) -> np.ndarray:
    """Indices into ``scenes`` as shuffled batches (rows) of ``batch_size`` tiles of one scene.

    Each scene's tiles are shuffled and cut into batches; the last is filled up with the
    scene's first tiles in that order, so no batch mixes scenes and every tile is drawn
    at least once per epoch.
    """
    batches = []
    for scene in np.unique(scenes):
        members = np.flatnonzero(scenes == scene)
        members = members[torch.randperm(len(members), generator=generator).numpy()]
        padded = np.resize(members, -(-len(members) // batch_size) * batch_size)
        batches.append(padded.reshape(-1, batch_size))
    stacked = np.concatenate(batches) if batches else np.empty((0, batch_size), np.int64)
    shuffled: np.ndarray = stacked[torch.randperm(len(stacked), generator=generator).numpy()]
    return shuffled


class EpochSampler(Sampler[tuple[int, int]]):
    """Tile indices tagged with their epoch; the order a function of (seed, epoch) alone.

    Parameters
    ----------
    dataset
        The tiles sampled.
    shuffle
        A fresh permutation each epoch, else tile order.
    seed
        Seeds the permutations.
    distributed
        Each rank of the initialised process group gets its share, padded to equal
        lengths (a :class:`~torch.utils.data.DistributedSampler`, or every
        world-size-th batch of one scene).
    scene_batch
        With ``shuffle``, hand out runs of this many tiles of one scene each
        (:func:`scene_batches`): the loader's batch size.
    """

    def __init__(
        self,
        dataset: TileDataset,
        *,
        shuffle: bool,
        seed: int,
        distributed: bool,
        scene_batch: int | None = None,
    ) -> None:
        self.length = len(dataset)
        self.shuffle = shuffle
        self.seed = seed
        self.scenes = np.asarray(dataset.tiles.pair) if shuffle and scene_batch else None
        self.scene_batch = scene_batch or 1
        self.world, self.rank = (dist.get_world_size(), dist.get_rank()) if distributed else (1, 0)
        self.ranks: DistributedSampler[int] | None = (
            DistributedSampler(dataset, shuffle=shuffle, seed=seed)
            if distributed and self.scenes is None
            else None
        )
        if self.scenes is not None:
            counts = np.unique(self.scenes, return_counts=True)[1]
            batches = sum(-(-int(count) // self.scene_batch) for count in counts)
            self.length = -(-batches // self.world) * self.scene_batch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the order and the augmentations of ``epoch`` from now on."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.ranks) if self.ranks is not None else self.length

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order: list[int]
        if self.scenes is not None:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            batches = scene_batches(self.scenes, self.scene_batch, generator)
            # every rank the same number of batches: the first ones again where short
            share = self.length // self.scene_batch
            batches = batches[np.resize(np.arange(len(batches)), share * self.world)]
            order = batches[self.rank :: self.world].reshape(-1).tolist()
        elif self.ranks is not None:
            self.ranks.set_epoch(self.epoch)
            order = list(self.ranks)
        elif self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.length, generator=generator).tolist()
        else:
            order = list(range(self.length))
        return ((self.epoch, index) for index in order)


def make_loader(
    dataset: TileDataset,
    batch_size: int,
    *,
    epoch: int,
    shuffle: bool,
    num_workers: int,
    seed: int,
    distributed: bool = False,
    pin_memory: bool = False,
    persistent: bool = False,
    batch_by_scene: bool = False,
) -> DataLoader[Sample]:
    """A loader starting at ``epoch``; :func:`set_loader_epoch` moves it to another.

    ``pin_memory`` speeds up copies to a GPU; ``persistent`` keeps the worker
    processes (and their open stores) from one epoch to the next; ``batch_by_scene``
    makes each shuffled batch the tiles of one scene.
    """
    sampler = EpochSampler(
        dataset,
        shuffle=shuffle,
        seed=seed,
        distributed=distributed,
        scene_batch=batch_size if batch_by_scene else None,
    )
    sampler.set_epoch(epoch)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(seed + epoch),
        multiprocessing_context="fork" if num_workers else None,
        pin_memory=pin_memory,
        persistent_workers=persistent and num_workers > 0,
    )


def set_loader_epoch(loader: DataLoader[Sample], epoch: int) -> None:
    """Make the next pass over a :func:`make_loader` loader draw ``epoch``'s samples."""
    sampler = loader.sampler
    assert isinstance(sampler, EpochSampler)
    sampler.set_epoch(epoch)
