from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import DataLoader, DistributedSampler

from geocolor.errors import GeocolorError
from geocolor.models.normalisation import Normalisation
from geocolor.prepare.store import (
    TileTable,
    begin_pair,
    create_tile_array,
    finish_pair,
    open_store,
    read_tiles,
    write_tiles,
)
from geocolor.prepare.tiling import Split, TileLayout
from geocolor.train.dataset import (
    EpochSampler,
    TileDataset,
    make_loader,
    read_sample,
    scene_batches,
    store_fingerprint,
    store_layout,
)
from geocolor.train.normalisation_fit import fit_normalisation

SAR_BANDS = ("VV", "VH")
OPTICAL_BANDS = ("B02", "B03", "B04")
#: Reflectance of each optical band as an affine function of (VV, VH) in dB: the
#: relation a model has to learn.
OPTICAL_FROM_SAR = np.array([[0.004, 0.002], [0.006, -0.001], [0.003, 0.005]])
OPTICAL_OFFSET = np.array([0.12, 0.18, 0.20])


def synthetic_pair(height: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SAR (2 bands, dB) with smooth structure, optical an affine function of it.

    The structure is log-normal (dark ground, sparse bright patches), so a sign-flipped
    mapping yields images unlike real optical ones and an unpaired backend (CycleGAN)
    is pushed towards the true relation rather than its mirror image. A NaN blot in the
    SAR (nodata) and a square of SCL-masked pixels sit in the top-left tile, so validity
    handling has something to do.
    """
    rng = np.random.default_rng(seed)
    fields = [ndimage.gaussian_filter(rng.standard_normal((height, width)), s) for s in (2, 5)]
    bright, broad = (f / f.std() for f in fields)
    patches = np.exp(0.9 * bright)
    sar = np.stack([-15 + 2.5 * patches, -22 + 2 * patches + 1.5 * broad]).astype(np.float32)
    optical = np.einsum("ob,bhw->ohw", OPTICAL_FROM_SAR, sar) + OPTICAL_OFFSET[:, None, None]
    optical = optical.astype(np.float32)
    mask = np.zeros((1, height, width), np.uint8)
    sar[:, 2:5, 3:7] = np.nan
    mask[0, 10:14, 10:14] = 1
    return sar, optical, mask


def write_synthetic_store(
    path: Path,
    tile: int = 32,
    tiles_down: int = 6,
    tiles_across: int = 4,
    seed: int = 0,
    pair_id: str = "S1A_X__S2A_Y",
    sar_bands: tuple[str, ...] = SAR_BANDS,
) -> str:
    """A one-pair store: the last tile row is TEST, the one above VAL, the rest TRAIN."""
    sar, optical, mask = synthetic_pair(tile * tiles_down, tile * tiles_across, seed)
    sar = sar[: len(sar_bands)]
    root = open_store(str(path), "a")
    root.attrs["tile_size"] = tile
    layers = {"s1": sar, "s2": optical, "mask": mask}
    attrs = {
        "s1_product": "S1A_X",
        "s2_product": "S2A_Y",
        "s1_bands": list(sar_bands),
        "s2_bands": list(OPTICAL_BANDS),
        "parameters": {"tile_size": tile, "seed": seed},
    }
    group = begin_pair(root, pair_id)
    group.attrs.update(attrs)
    for name, values in layers.items():
        create_tile_array(group, name, values, tile)[:] = values
    layout = TileLayout(sar.shape[1], sar.shape[2], tile, tile)
    rows, cols = layout.origins()
    split = np.where(
        rows == (tiles_down - 1) * tile,
        Split.TEST,
        np.where(rows == (tiles_down - 2) * tile, Split.VAL, Split.TRAIN),
    ).astype(np.uint8)
    count = rows.size
    table = TileTable(
        pair=np.full(count, pair_id, dtype=object),
        tile_id=np.arange(count, dtype=np.int32),
        row=rows.astype(np.int32),
        col=cols.astype(np.int32),
        x_min=cols.astype(float),
        y_min=rows.astype(float),
        x_max=(cols + tile).astype(float),
        y_max=(rows + tile).astype(float),
        valid_fraction=np.ones(count),
        cloud_fraction=np.zeros(count),
        split=split,
    )
    write_tiles(group, table)
    finish_pair(group, {"tiles_kept": count})
    return str(path)


def normalisation_for(path: str) -> Normalisation:
    root = open_store(path, "r")
    return fit_normalisation(root, read_tiles(root))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_store(tmp_path_factory.mktemp("dataset") / "store.zarr")


def dataset(store: str, **options: object) -> TileDataset:
    root = open_store(store, "r")
    tiles = read_tiles(root)
    return TileDataset(store, tiles, normalisation_for(store), 32, **options)  # type: ignore[arg-type]


def dihedral(image: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and rotations of a (C, H, W) image."""
    turned = [np.rot90(image, k, axes=(1, 2)) for k in range(4)]
    return turned + [t[:, ::-1] for t in turned]


def test_store_layout_and_samples_follow_the_backend_contract(store: str) -> None:
    root = open_store(store, "r")
    assert store_layout(root).sar_bands == SAR_BANDS
    assert store_layout(root).optical_bands == OPTICAL_BANDS
    assert store_layout(root).tile_size == 32

    sample = dataset(store)[0]  # the top-left tile, with the NaN blot and masked square
    assert set(sample) == {"sar", "optical", "valid"}
    assert sample["sar"].shape == (2, 32, 32) and sample["optical"].shape == (3, 32, 32)
    assert sample["valid"].shape == (1, 32, 32)
    assert all(t.dtype == torch.float32 for t in sample.values())
    for name in ("sar", "optical"):
        assert sample[name].min() >= -1 and sample[name].max() <= 1
    valid = sample["valid"][0]
    assert set(valid.unique().tolist()) == {0.0, 1.0}
    assert not valid[2:5, 3:7].any() and not valid[10:14, 10:14].any()
    assert int((valid == 0).sum()) == 3 * 4 + 4 * 4
    assert (sample["sar"][:, 2:5, 3:7] == 0).all()  # NaN became 0


def test_read_sample_flags_nan_and_masked_pixels(store: str) -> None:
    sar, optical, valid = read_sample(open_store(store, "r"), "S1A_X__S2A_Y", 0, 0, 32)
    assert sar.shape == (2, 32, 32) and optical.shape == (3, 32, 32)
    assert np.isnan(sar[:, 2:5, 3:7]).all() and np.isfinite(optical).all()
    assert valid.sum() == 32 * 32 - 28


def test_augmentation_moves_both_domains_and_validity_together(store: str) -> None:
    plain, augmented = dataset(store), dataset(store, augment=True, seed=3)
    seen = set()
    for epoch in range(3):
        augmented.set_epoch(epoch)
        for index in (0, 5, 11):
            reference = plain[index]
            sample = augmented[index]
            sar_views = dihedral(reference["sar"].numpy())
            matches = [k for k, view in enumerate(sar_views) if np.array_equal(view, sample["sar"])]
            assert matches, "augmented SAR is no flip or rotation of the tile"
            k = matches[0]
            seen.add(k)
            assert np.array_equal(dihedral(reference["optical"].numpy())[k], sample["optical"])
            assert np.array_equal(dihedral(reference["valid"].numpy())[k], sample["valid"])
    assert len(seen) > 2


def test_augmentation_and_crop_are_seeded_by_seed_epoch_and_index(store: str) -> None:
    first = dataset(store, augment=True, crop=20, seed=7)
    second = dataset(store, augment=True, crop=20, seed=7)
    for index in range(4):
        a, b = first[index], second[index]
        assert a["sar"].shape == (2, 20, 20)
        assert all(torch.equal(a[key], b[key]) for key in a)
    second.set_epoch(1)
    assert any(not torch.equal(first[i]["sar"], second[i]["sar"]) for i in range(4))


def test_crop_is_a_window_of_the_tile(store: str) -> None:
    full, cropped = dataset(store)[3]["optical"].numpy(), dataset(store, crop=24, seed=1)[3]
    windows = [
        (r, c)
        for r in range(9)
        for c in range(9)
        if np.array_equal(full[:, r : r + 24, c : c + 24], cropped["optical"].numpy())
    ]
    assert len(windows) == 1
    with pytest.raises(GeocolorError, match="crop 40"):
        dataset(store, crop=40)


def test_loader_is_deterministic_across_worker_counts(store: str) -> None:
    data = dataset(store, augment=True, crop=16, seed=2)

    def batches(workers: int, epoch: int) -> list[torch.Tensor]:
        loader = make_loader(data, 5, epoch=epoch, shuffle=True, num_workers=workers, seed=2)
        return [batch["sar"] for batch in loader]

    serial, forked = batches(0, epoch=0), batches(2, epoch=0)
    assert len(serial) == len(forked) == 5  # 24 tiles, batches of 5
    assert all(torch.equal(a, b) for a, b in zip(serial, forked, strict=True))
    assert not torch.equal(serial[0], batches(0, epoch=1)[0])


def test_scene_batches_never_mix_scenes_and_cover_every_tile() -> None:
    scenes = np.array(["a"] * 7 + ["b"] * 2 + ["c"] * 8, dtype=object)
    batches = scene_batches(scenes, 4, torch.Generator().manual_seed(0))
    assert batches.shape == (2 + 1 + 2, 4)  # 7 -> 2 batches, 2 -> 1 (padded), 8 -> 2
    assert all(len(set(scenes[batch])) == 1 for batch in batches)
    assert set(batches.reshape(-1).tolist()) == set(range(len(scenes)))
    again = scene_batches(scenes, 4, torch.Generator().manual_seed(0))
    assert np.array_equal(batches, again)


@pytest.mark.parametrize("world", [1, 2, 3])
def test_scene_batches_are_shared_between_ranks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, world: int
) -> None:
    path = write_synthetic_store(tmp_path / "two.zarr", tiles_down=3)
    write_synthetic_store(tmp_path / "two.zarr", tiles_down=5, pair_id="S1B_Z__S2B_W", seed=1)
    data = dataset(path)
    scenes = np.asarray(data.tiles.pair)
    assert len(set(scenes)) == 2
    monkeypatch.setattr("geocolor.train.dataset.dist.get_world_size", lambda: world)
    shares = []
    for rank in range(world):
        monkeypatch.setattr("geocolor.train.dataset.dist.get_rank", lambda rank=rank: rank)
        sampler = EpochSampler(data, shuffle=True, seed=3, distributed=True, scene_batch=4)
        sampler.set_epoch(1)
        drawn = list(sampler)
        assert len(drawn) == len(sampler) and {epoch for epoch, _ in drawn} == {1}
        indices = np.array([index for _, index in drawn]).reshape(-1, 4)
        assert all(len(set(scenes[batch])) == 1 for batch in indices)
        shares.append(indices)
    assert len({len(share) for share in shares}) == 1  # equal shares, padded
    assert set(np.concatenate(shares).reshape(-1).tolist()) == set(range(len(data)))


def test_loader_batches_by_scene(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "two.zarr", tiles_down=3)
    write_synthetic_store(tmp_path / "two.zarr", tiles_down=4, pair_id="S1B_Z__S2B_W", seed=1)
    data = dataset(path)
    loader = make_loader(data, 4, epoch=0, shuffle=True, num_workers=0, seed=0, batch_by_scene=True)
    by_tile = {data[i]["sar"].sum().item(): data.tiles.pair[i] for i in range(len(data))}
    for batch in loader:
        assert len(batch["sar"]) == 4
        assert len({by_tile[image.sum().item()] for image in batch["sar"]}) == 1


def test_dataset_pickles_without_its_store_and_reopens(store: str) -> None:
    data = dataset(store)
    _ = data[0]
    assert data._root is not None
    copy = pickle.loads(pickle.dumps(data))
    assert copy._root is None
    assert torch.equal(copy[1]["sar"], data[1]["sar"])


def test_distributed_sampler_shares_tiles_between_ranks(store: str) -> None:
    data = dataset(store)
    shares = []
    for rank in range(2):
        sampler: DistributedSampler[int] = DistributedSampler(
            data, num_replicas=2, rank=rank, shuffle=True, seed=0
        )
        loader = DataLoader(data, batch_size=4, sampler=sampler, num_workers=1)
        shares.append(torch.cat([batch["sar"] for batch in loader]))
    assert len(shares[0]) == len(shares[1]) == len(data) // 2
    served = torch.cat(shares).flatten(1).sum(1).sort().values
    every = torch.stack([data[i]["sar"] for i in range(len(data))]).flatten(1).sum(1)
    torch.testing.assert_close(served, every.sort().values)


def test_fingerprint_follows_the_tile_index_and_provenance(tmp_path: Path) -> None:
    first = write_synthetic_store(tmp_path / "a.zarr")
    same = write_synthetic_store(tmp_path / "b.zarr")
    other = write_synthetic_store(tmp_path / "c.zarr", seed=1)

    def fingerprint(path: str) -> str:
        root = open_store(path, "r")
        return store_fingerprint(root, read_tiles(root))

    assert fingerprint(first) == fingerprint(same) != fingerprint(other)
    root = open_store(first, "r")
    tiles = read_tiles(root)
    assert store_fingerprint(root, tiles.of_split(Split.TRAIN)) != fingerprint(first)


def test_pairs_with_different_bands_are_refused(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "mixed.zarr")
    write_synthetic_store(tmp_path / "mixed.zarr", pair_id="S1B_Z__S2B_W", sar_bands=("VV",))
    with pytest.raises(GeocolorError, match="S1B_Z__S2B_W"):
        store_layout(open_store(path, "r"))


def test_the_tile_size_is_the_store_attribute_and_chunks_must_match_it(tmp_path: Path) -> None:
    path = write_synthetic_store(tmp_path / "store.zarr", tile=16, tiles_down=2, tiles_across=2)
    assert store_layout(open_store(path, "r")).tile_size == 16
    root = open_store(path, "r+")
    root.attrs["tile_size"] = 32
    with pytest.raises(GeocolorError, match="not the store's tile size 32"):
        store_layout(root)
    del root.attrs["tile_size"]
    with pytest.raises(GeocolorError, match="records no tile size"):
        store_layout(open_store(path, "r"))
