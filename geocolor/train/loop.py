"""``geocolor train``: drive a backend over the prepared store, tracked in MLflow.

The driver owns everything but the networks: data, devices, seeding, mixed precision,
distribution (torchrun: one process per GPU, DDP), validation, checkpoints, MLflow
logging and registration. Only rank 0 talks to MLflow and writes checkpoints; the
others train and wait for it at each epoch's end.
"""

from __future__ import annotations

import math
import os
import posixpath
import random
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

import fsspec
import mlflow
import numpy as np
import pydantic
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate

from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.io.filesystems import atomic_write
from geocolor.models.backend import Backend, Trainer
from geocolor.models.layers import calibrate_frozen_statistics
from geocolor.models.logged import (
    LoadedModel,
    ModelSpec,
    alias_holder,
    experiment_id,
    git_commit,
    load_model,
    log_generator,
    promote,
)
from geocolor.models.normalisation import Normalisation
from geocolor.plugins.manager import get_plugins
from geocolor.plugins.registry import Registry
from geocolor.prepare.store import TileTable, open_store, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.progress import progress
from geocolor.train.dataset import (
    StoreLayout,
    TileDataset,
    make_loader,
    seed_everything,
    store_fingerprint,
    store_layout,
    store_sar_processing,
)
from geocolor.train.metrics import HIGHER_IS_BETTER, evaluate_generator
from geocolor.train.normalisation_fit import fit_normalisation

CHECKPOINT_FORMAT = "geocolor-checkpoint/1"
# training tiles whose pooled statistics become the saved model's frozen ones
CALIBRATION_TILES = 16
#: Validation tiles pictured after each epoch.
GRID_ROWS = 4
Metric = Literal["psnr", "ssim", "sam", "l1"]


class TrainConfig(Config):
    """Everything ``geocolor train`` can be told (keys of ``pipelines/train.yaml``)."""

    backend: str = "cyclegan"
    backend_options: dict[str, Any] = pydantic.Field(default_factory=dict)
    epochs: int = pydantic.Field(default=20, ge=1)
    steps_per_epoch: int | None = pydantic.Field(default=None, ge=1)
    batch_size: int = pydantic.Field(default=4, ge=1)
    tile_size: int | None = pydantic.Field(default=None, ge=8)
    num_workers: int = pydantic.Field(default=2, ge=0)
    seed: int = 0
    model_name: str = "geocolor"
    experiment: str = "geocolor"
    amp: bool = True
    device: str = "auto"
    log_every: int = pydantic.Field(default=50, ge=1)
    checkpoint_dir: str = "checkpoints"
    val_max_tiles: int | None = pydantic.Field(default=64, ge=1)
    normalisation_tiles: int = pydantic.Field(default=64, ge=1)
    percentiles: tuple[float, float] = (1.0, 99.0)
    promote_if_better: str | None = None
    metric: Metric = "psnr"


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced."""

    run_id: str
    model_name: str
    model_version: str
    metrics: dict[str, float]
    checkpoint: str
    promoted: bool

    @property
    def model_uri(self) -> str:
        """``models:/NAME/VERSION`` of the registered generator."""
        return f"models:/{self.model_name}/{self.model_version}"


@dataclass(frozen=True)
class Placement:
    """This process's place in a (possibly single-process) training job."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process logs, checkpoints and registers."""
        return self.rank == 0


def resolve_device(option: str, local_rank: int = 0) -> torch.device:
    """``auto`` is this rank's GPU when there is one, else the CPU."""
    if option == "auto":
        option = "cuda" if torch.cuda.is_available() else "cpu"
    if option == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(option)
    except RuntimeError:
        raise UsageError(
            f"device {option!r} is not a torch device (auto, cpu, cuda, cuda:1…)"
        ) from None


@contextmanager
def placement(device_option: str) -> Iterator[Placement]:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, Gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_option, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size == 1:
        yield Placement(0, 1, device)
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Placement(dist.get_rank(), world_size, device)
    finally:
        dist.destroy_process_group()


def backend_config(backend: Backend, options: Mapping[str, Any]) -> Config:
    """Validate ``backend_options`` against the backend's own config type."""
    try:
        return backend.config_type.model_validate(dict(options))
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise UsageError(
            f"backend_options.{key}: {error['msg']} for backend {backend.name!r}"
        ) from None


@dataclass(frozen=True)
class StoreData:
    """The store as training sees it."""

    path: str
    layout: StoreLayout
    tiles: TileTable
    fingerprint: str
    sar_processing: dict[str, Any] | None

    @classmethod
    def open(cls, path: str) -> StoreData:
        """Read the tile index, band layout and fingerprint of the store at ``path``."""
        root = open_store(path, "r")
        tiles = read_tiles(root)
        return cls(
            path,
            store_layout(root),
            tiles,
            store_fingerprint(root, tiles),
            store_sar_processing(root),
        )

    def split(self, split: Split, max_tiles: int | None = None) -> TileTable:
        """Tiles of ``split``, at most ``max_tiles`` spread evenly over the index."""
        tiles = self.tiles.of_split(split)
        if not len(tiles):
            raise GeocolorError(f"{self.path}: the store has no {split.name.lower()} tiles")
        if max_tiles is not None and len(tiles) > max_tiles:
            tiles = tiles.select(np.linspace(0, len(tiles) - 1, max_tiles).round().astype(int))
        return tiles


def train(
    store_path: str,
    config: TrainConfig,
    resume: str | None = None,
    backends: Registry[Any] | None = None,
) -> TrainResult:
    """Train ``config.backend`` on the store, log it to MLflow and register the generator.

    Parameters
    ----------
    store_path
        The prepared Zarr store.
    config
        Hyper-parameters of the run.
    resume
        A checkpoint written by an earlier run: training goes on from the epoch after
        it, in the same MLflow run (``epochs`` may be raised to train longer).
    backends
        Registry to find the backend in (default: the loaded plugins').

    Returns
    -------
    TrainResult
        The same on every rank of a distributed job.
    """
    registry = get_plugins().backends if backends is None else backends
    backend: Backend = registry.get(config.backend)
    options = backend_config(backend, config.backend_options)
    store = StoreData.open(store_path)
    train_tiles = store.split(Split.TRAIN)
    val_tiles = store.split(Split.VAL, config.val_max_tiles)
    checkpoint = load_checkpoint(resume, config, store) if resume else None
    if checkpoint:
        normalisation = Normalisation.from_dict(checkpoint["normalisation"])
    else:
        normalisation = fit_normalisation(
            open_store(store_path, "r"),
            store.tiles,
            percentiles=config.percentiles,
            max_tiles=config.normalisation_tiles,
            seed=config.seed,
        )
    with placement(config.device) as where:
        run = _Run(config, backend, options, store, normalisation, where, registry)
        return run.execute(train_tiles, val_tiles, checkpoint)


class _Run:
    """One training job in one process: the loop and its logging."""

    def __init__(
        self,
        config: TrainConfig,
        backend: Backend,
        options: Config,
        store: StoreData,
        normalisation: Normalisation,
        where: Placement,
        registry: Registry[Any],
    ) -> None:
        self.config = config
        self.backend = backend
        self.options = options
        self.store = store
        self.normalisation = normalisation
        self.where = where
        self.registry = registry
        self.in_channels = len(store.layout.sar_bands)
        self.out_channels = len(store.layout.optical_bands)

    def execute(
        self, train_tiles: TileTable, val_tiles: TileTable, checkpoint: Mapping[str, Any] | None
    ) -> TrainResult:
        config, where = self.config, self.where
        seed_everything(config.seed)
        trainer = self.backend.build_trainer(
            self.in_channels, self.out_channels, self.options, where.device
        )
        for network in trainer.networks().values():
            network.to(where.device)
        first_epoch, step = 0, 0
        if checkpoint:
            trainer.load_state_dict(checkpoint["trainer"])
            restore_rng(checkpoint["rng"])
            first_epoch, step = int(checkpoint["epoch"]) + 1, int(checkpoint["step"])
        if where.world_size > 1:
            device_ids = [where.device] if where.device.type == "cuda" else None
            trainer.wrap(lambda network: DistributedDataParallel(network, device_ids=device_ids))
        train_set = TileDataset(
            self.store.path,
            train_tiles,
            self.normalisation,
            self.store.layout.tile_size,
            crop=config.tile_size,
            augment=True,
            seed=config.seed,
        )
        val_set = TileDataset(
            self.store.path, val_tiles, self.normalisation, self.store.layout.tile_size
        )
        amp = config.amp and where.device.type == "cuda"
        metrics: dict[str, float] = {}
        with self._mlflow_run(checkpoint["run_id"] if checkpoint else None) as run_id:
            epochs: Iterable[int] = range(first_epoch, config.epochs)
            if where.is_main and not checkpoint:
                self._log_start(run_id, len(train_tiles), len(val_tiles))
            if where.is_main:
                epochs = progress(
                    epochs, total=config.epochs - first_epoch, desc="epochs", unit="epoch"
                )
            for epoch in epochs:
                step = self._train_epoch(trainer, train_set, epoch, step, amp)
                trainer.end_epoch(epoch, config.epochs)
                if where.is_main:
                    metrics = self._validate(trainer.generator, val_set, epoch)
                    state = self._checkpoint_state(trainer, epoch, step, run_id)
                    save_checkpoint(self._checkpoint_path(run_id), state)
                if where.world_size > 1:
                    dist.barrier()
            result = (
                self._finish(trainer.generator, train_set, run_id, metrics)
                if where.is_main
                else None
            )
        return self._shared(result)

    @contextmanager
    def _mlflow_run(self, run_id: str | None) -> Iterator[str]:
        if not self.where.is_main:
            yield ""
            return
        experiment = None if run_id else experiment_id(self.config.experiment)
        with mlflow.start_run(run_id=run_id, experiment_id=experiment) as run:
            yield run.info.run_id

    def _log_start(self, run_id: str, train_count: int, val_count: int) -> None:
        """Parameters, normalisation and provenance tags of a new run."""
        config = self.config.model_dump(mode="json", exclude={"backend_options"})
        options = self.options.model_dump(mode="json")
        mlflow.log_params(
            {
                **config,
                **{f"backend.{key}": value for key, value in options.items()},
                "store": self.store.path,
                "store_fingerprint": self.store.fingerprint,
                "train_tiles": train_count,
                "val_tiles": val_count,
                "world_size": self.where.world_size,
                "device": str(self.where.device),
            }
        )
        mlflow.log_dict(self.normalisation.to_dict(), "normalisation.json")
        mlflow.set_tags(
            {
                "backend": self.config.backend,
                "data_fingerprint": self.store.fingerprint,
                "git_commit": git_commit(),
                "checkpoint": self._checkpoint_path(run_id),
            }
        )

    def _train_epoch(
        self, trainer: Trainer, dataset: TileDataset, epoch: int, step: int, amp: bool
    ) -> int:
        config, where = self.config, self.where
        loader = make_loader(
            dataset,
            config.batch_size,
            epoch=epoch,
            shuffle=True,
            num_workers=config.num_workers,
            seed=config.seed,
            distributed=where.world_size > 1,
            pin_memory=where.device.type == "cuda",
        )
        steps = min(len(loader), config.steps_per_epoch or len(loader))
        batches: Iterable[Mapping[str, torch.Tensor]] = islice(loader, steps)
        if where.is_main:
            batches = progress(batches, total=steps, desc=f"epoch {epoch + 1}", unit="step")
        window: dict[str, list[float]] = {}
        for batch in batches:
            on_device = {k: v.to(where.device, non_blocking=True) for k, v in batch.items()}
            for name, value in trainer.train_step(on_device, amp).items():
                window.setdefault(name, []).append(value)
            step += 1
            if where.is_main and step % config.log_every == 0:
                mean_losses = {f"loss_{k}": float(np.mean(v)) for k, v in window.items()}
                mlflow.log_metrics(mean_losses, step=step)
                window = {}
        return step

    def _validate(
        self, generator: torch.nn.Module, dataset: TileDataset, epoch: int
    ) -> dict[str, float]:
        """Log the val metrics and a picture of the first few val tiles."""
        loader = make_loader(
            dataset,
            self.config.batch_size,
            epoch=0,
            shuffle=False,
            num_workers=self.config.num_workers,
            seed=self.config.seed,
            pin_memory=self.where.device.type == "cuda",
        )
        metrics = evaluate_generator(generator, loader, self.normalisation, self.where.device)
        mlflow.log_metrics({f"val_{name}": value for name, value in metrics.items()}, step=epoch)
        shown = default_collate([dataset[i] for i in range(min(GRID_ROWS, len(dataset)))])
        with torch.no_grad():
            generator.eval()
            generated = generator(shown["sar"].to(self.where.device)).float().cpu()
            generator.train()
        grid = sample_grid(
            shown["sar"], generated, shown["optical"], shown["valid"], self.normalisation
        )
        mlflow.log_image(grid, artifact_file=f"samples/epoch_{epoch:04d}.png")
        return metrics

    def _checkpoint_path(self, run_id: str) -> str:
        return posixpath.join(self.config.checkpoint_dir, run_id, "last.pt")

    def _checkpoint_state(
        self, trainer: Trainer, epoch: int, step: int, run_id: str
    ) -> dict[str, Any]:
        """Everything a resumed run needs to go on after ``epoch`` as if never stopped."""
        return {
            "format": CHECKPOINT_FORMAT,
            "trainer": trainer.state_dict(),
            "epoch": epoch,
            "step": step,
            "run_id": run_id,
            "normalisation": self.normalisation.to_dict(),
            "config": self.config.model_dump(mode="json"),
            "store_fingerprint": self.store.fingerprint,
            "rng": rng_state(),
        }

    def _finish(
        self,
        generator: torch.nn.Module,
        train_set: TileDataset,
        run_id: str,
        metrics: dict[str, float],
    ) -> TrainResult:
        config = self.config
        picks = np.random.default_rng(config.seed).permutation(len(train_set))[:CALIBRATION_TILES]
        sample = torch.stack([train_set[int(i)]["sar"] for i in picks])
        calibrate_frozen_statistics(generator, [sample.to(self.where.device)])
        spec = ModelSpec(
            config.backend,
            self.options.model_dump(mode="json"),
            self.in_channels,
            self.out_channels,
            self.normalisation,
            self.store.sar_processing,
        )
        tags = {
            "backend": config.backend,
            "data_fingerprint": self.store.fingerprint,
            "git_commit": git_commit(),
        }
        version = log_generator(generator, spec, config.model_name, tags)
        promoted = False
        if config.promote_if_better:
            promoted = self._promote_if_better(str(version.version), metrics)
        return TrainResult(
            run_id=run_id,
            model_name=config.model_name,
            model_version=str(version.version),
            metrics=metrics,
            checkpoint=self._checkpoint_path(run_id),
            promoted=promoted,
        )

    def _promote_if_better(self, version: str, metrics: Mapping[str, float]) -> bool:
        """Move the alias to ``version`` if it beats the current holder on the val split."""
        config = self.config
        alias, name = config.promote_if_better, config.model_name
        assert alias is not None
        holder = alias_holder(name, alias)
        if holder is not None:
            holder_model = load_model(
                f"models:/{name}/{holder.version}", self.where.device, self.registry
            )
            incumbent = evaluate_on_store(
                holder_model,
                self.store,
                Split.VAL,
                config.val_max_tiles,
                config.batch_size,
                config.num_workers,
            )[config.metric]
            mlflow.log_metric(f"incumbent_val_{config.metric}", incumbent)
            if not is_better(config.metric, metrics[config.metric], incumbent):
                mlflow.set_tag("promotion", f"kept {alias} on version {holder.version}")
                return False
        promote(name, version, alias)
        mlflow.set_tag("promotion", f"{alias} moved to version {version}")
        return True

    def _shared(self, result: TrainResult | None) -> TrainResult:
        """Rank 0's result on every rank."""
        if self.where.world_size > 1:
            box: list[TrainResult | None] = [result]
            dist.broadcast_object_list(box, src=0)
            result = box[0]
        assert result is not None
        return result


def is_better(metric: str, candidate: float, incumbent: float) -> bool:
    """Whether ``candidate`` strictly beats ``incumbent`` on ``metric`` (NaN never does)."""
    if math.isnan(candidate):
        return False
    if math.isnan(incumbent):
        return True
    return candidate > incumbent if HIGHER_IS_BETTER[metric] else candidate < incumbent


def evaluate_on_store(
    model: LoadedModel,
    store: StoreData,
    split: Split,
    max_tiles: int | None,
    batch_size: int,
    num_workers: int,
) -> dict[str, float]:
    """Metrics of a loaded model on one split of a store, with the model's normalisation."""
    trained_on = (model.normalisation.sar_bands, model.normalisation.optical_bands)
    holds = (store.layout.sar_bands, store.layout.optical_bands)
    if trained_on != holds:
        raise GeocolorError(
            f"{model.uri}: trained on bands {trained_on}, but {store.path} holds {holds}"
        )
    dataset = TileDataset(
        store.path, store.split(split, max_tiles), model.normalisation, store.layout.tile_size
    )
    loader = make_loader(
        dataset, batch_size, epoch=0, shuffle=False, num_workers=num_workers, seed=0
    )
    return evaluate_generator(model.generator, loader, model.normalisation, model.device)


def evaluate_model(
    model_uri: str,
    store_path: str,
    split: Split = Split.TEST,
    *,
    max_tiles: int | None = None,
    batch_size: int = 4,
    num_workers: int = 0,
    device: str = "auto",
    experiment: str = "geocolor",
    backends: Registry[Any] | None = None,
) -> tuple[str, dict[str, float]]:
    """Score a logged model on a store split and log the scores as an MLflow run.

    The run is tagged with the model's URI, backend and, for registry URIs, its name
    and version, so a model's evaluations can be searched for.

    Returns
    -------
    run_id, metrics
        The evaluation run and its metrics (keys as
        :data:`~geocolor.train.metrics.HIGHER_IS_BETTER`).
    """
    store = StoreData.open(store_path)
    model = load_model(model_uri, resolve_device(device), backends)
    metrics = evaluate_on_store(model, store, split, max_tiles, batch_size, num_workers)
    tags = {"evaluation": "true", "model_uri": model_uri, "backend": model.backend}
    if model.version is not None:
        tags |= {"model_name": model.version.name, "model_version": model.version.version}
    prefix = split.name.lower()
    with mlflow.start_run(
        run_name=f"evaluate {model_uri}", experiment_id=experiment_id(experiment)
    ) as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "store": store_path,
                "store_fingerprint": store.fingerprint,
                "split": prefix,
                "max_tiles": max_tiles,
            }
        )
        mlflow.log_metrics({f"{prefix}_{name}": value for name, value in metrics.items()})
    return run.info.run_id, metrics


def rng_state() -> dict[str, Any]:
    """Every global random generator's state, as plain data a safe ``torch.load`` reads."""
    # The legacy global generators are what third-party code draws from: seed those.
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    assert isinstance(keys, np.ndarray)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), position, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    keys_array = np.array(keys, dtype=np.uint32)
    np.random.set_state((name, keys_array, position, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str, state: Mapping[str, Any]) -> None:
    """Write ``state`` to a local path or URL: a temporary name, then a rename over ``path``.

    A run killed mid-write thus never leaves a truncated checkpoint to resume from.
    """
    with atomic_write(path) as stream:
        torch.save(state, stream)


def load_checkpoint(path: str, config: TrainConfig, store: StoreData) -> dict[str, Any]:
    """Read a checkpoint and check it continues this configuration on this store."""
    try:
        with fsspec.open(path, "rb") as stream:
            state = torch.load(stream, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GeocolorError(f"{path}: checkpoint not found") from None
    except Exception as exc:
        raise GeocolorError(f"{path}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise GeocolorError(f"{path}: not a geocolor training checkpoint")
    saved = state["config"]
    for key in ("backend", "backend_options"):
        if saved[key] != config.model_dump(mode="json")[key]:
            raise UsageError(
                f"{path}: the checkpoint has {key} {saved[key]!r}, not {getattr(config, key)!r}"
            )
    if state["store_fingerprint"] != store.fingerprint:
        raise GeocolorError(
            f"{path}: the checkpoint was trained on another store than {store.path}"
        )
    if int(state["epoch"]) + 1 >= config.epochs:
        raise UsageError(
            f"{path}: the checkpoint has done {int(state['epoch']) + 1} of {config.epochs} "
            "epochs already; raise --epochs to train longer"
        )
    return state


def sample_grid(
    sar: torch.Tensor,
    generated: torch.Tensor,
    real: torch.Tensor,
    valid: torch.Tensor,
    normalisation: Normalisation,
) -> np.ndarray:
    """An RGB uint8 picture, one row per tile: SAR | generated | real (masked black).

    SAR shows its first band in grey; optical shows B04/B03/B02 when present, else its
    first three bands. Values are the normalised ones, so the percentile stretch of
    training is the display stretch.
    """
    rgb = _rgb_bands(normalisation.optical_bands)
    rows = []
    for i in range(sar.shape[0]):
        panels = [
            sar[i, :1].expand(3, -1, -1),
            generated[i, rgb],
            torch.where(valid[i] > 0, real[i, rgb], -1.0),
        ]
        rows.append(torch.cat([_padded(panel) for panel in panels], dim=2))
    picture = torch.cat(rows, dim=1)
    return ((picture.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def _rgb_bands(bands: tuple[str, ...]) -> list[int]:
    if {"B04", "B03", "B02"} <= set(bands):
        return [bands.index("B04"), bands.index("B03"), bands.index("B02")]
    return [min(i, len(bands) - 1) for i in range(3)]


def _padded(panel: torch.Tensor) -> torch.Tensor:
    """A one-pixel white border, so neighbouring panels stay apart."""
    return torch.nn.functional.pad(panel, (1, 1, 1, 1), value=1.0)
