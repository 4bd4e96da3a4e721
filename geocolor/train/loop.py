"""``geocolor train``: drive a backend over the prepared store, tracked in MLflow.

The driver owns everything but the networks: data, seeding, mixed precision, the epoch
loop, validation, MLflow logging and registration; devices and the process group
(:mod:`~geocolor.train.placement`), checkpoints (:mod:`~geocolor.train.checkpoints`) and
scoring (:mod:`~geocolor.train.evaluation`) live beside it. Only rank 0 talks to MLflow
and writes checkpoints; the others train and wait for it at each epoch's end.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import mlflow
import numpy as np
import pydantic
import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import default_collate

from geocolor.config import Config
from geocolor.errors import UsageError
from geocolor.models.backend import Backend, Trainer
from geocolor.models.layers import calibrate_frozen_statistics
from geocolor.models.logged import ModelSpec, load_model, log_generator, register_generator
from geocolor.models.model_code import git_commit
from geocolor.models.model_registry import alias_holder, experiment_id, promote
from geocolor.models.normalisation import Normalisation
from geocolor.plugins.manager import get_plugins
from geocolor.plugins.registry import Registry
from geocolor.prepare.store import TileTable, open_store
from geocolor.prepare.tiling import Split
from geocolor.progress import progress
from geocolor.train.checkpoints import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from geocolor.train.dataset import TileDataset, check_crop, make_loader, seed_everything
from geocolor.train.drift_fit import fit_drift_reference
from geocolor.train.evaluation import evaluate_on_store, is_better
from geocolor.train.metrics import evaluate_generator
from geocolor.train.normalisation_fit import fit_normalisation
from geocolor.train.placement import Placement, placement
from geocolor.train.run_config import TrainConfig
from geocolor.train.sample_grid import sample_grid
from geocolor.train.store_data import StoreData

# training tiles whose pooled statistics become the saved model's frozen ones
CALIBRATION_TILES = 16
#: Validation tiles pictured after each epoch.
GRID_ROWS = 4


@dataclass(frozen=True)
class RunHooks:
    """How a caller such as ``geocolor tune`` shapes a run.

    Parameters
    ----------
    run_name, tags
        Name and tags of a new MLflow run (a study's trials are child runs).
    on_epoch
        Called on the main process after each epoch's validation with the run id, the
        epoch and its validation metrics; raising stops the run there (pruning).
    register
        Register the generator as a new model version; a study registers only its best.
    """

    run_name: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    on_epoch: Callable[[str, int, Mapping[str, float]], None] | None = None
    register: bool = True


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced (``model_version`` is "" when not registered)."""

    run_id: str
    model_name: str
    model_version: str
    metrics: dict[str, float]
    checkpoint: str
    promoted: bool
    logged_model: str

    @property
    def model_uri(self) -> str:
        """``models:/NAME/VERSION`` of the registered generator."""
        return f"models:/{self.model_name}/{self.model_version}"


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


def train(
    store_path: str,
    config: TrainConfig,
    resume: str | None = None,
    backends: Registry[Any] | None = None,
    hooks: RunHooks | None = None,
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
    hooks
        Name, tags, per-epoch callback and registration of the run (default: a plain
        run, registered).

    Returns
    -------
    TrainResult
        The same on every rank of a distributed job.
    """
    registry = get_plugins().backends if backends is None else backends
    backend: Backend = registry.get(config.backend)
    options = backend_config(backend, config.backend_options)
    store = StoreData.open(store_path)
    check_crop(config.tile_size, store.layout.tile_size, store_path)
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
        run = _Run(config, backend, options, store, normalisation, where, registry, hooks)
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
        hooks: RunHooks | None = None,
    ) -> None:
        self.config = config
        self.hooks = hooks or RunHooks()
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
                    if self.hooks.on_epoch is not None:
                        self.hooks.on_epoch(run_id, epoch, metrics)
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
        # name and tags belong to a new run; a resumed one keeps its own
        name = None if run_id else self.hooks.run_name
        tags = None if run_id else dict(self.hooks.tags)
        with mlflow.start_run(
            run_id=run_id, experiment_id=experiment, run_name=name, tags=tags
        ) as run:
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
            fit_drift_reference(open_store(self.store.path, "r"), self.store.tiles),
        )
        tags = {
            "backend": config.backend,
            "data_fingerprint": self.store.fingerprint,
            "git_commit": git_commit(),
        }
        logged = log_generator(generator, spec)
        version, promoted = "", False
        if self.hooks.register:
            version = register_generator(logged, config.model_name, tags)
            if config.promote_if_better:
                promoted = promote_if_better(
                    config, self.store, version, metrics, self.where.device, self.registry
                )
        return TrainResult(
            run_id=run_id,
            model_name=config.model_name,
            model_version=version,
            metrics=metrics,
            checkpoint=self._checkpoint_path(run_id),
            promoted=promoted,
            logged_model=logged,
        )

    def _shared(self, result: TrainResult | None) -> TrainResult:
        """Rank 0's result on every rank."""
        if self.where.world_size > 1:
            box: list[TrainResult | None] = [result]
            dist.broadcast_object_list(box, src=0)
            result = box[0]
        assert result is not None
        return result


def promote_if_better(
    config: TrainConfig,
    store: StoreData,
    version: str,
    metrics: Mapping[str, float],
    device: torch.device,
    registry: Registry[Any],
) -> bool:
    """Move ``config.promote_if_better`` to ``version`` if it beats the holder on val.

    Logs the incumbent's score and the decision in the active run.
    """
    alias, name = config.promote_if_better, config.model_name
    assert alias is not None
    holder = alias_holder(name, alias)
    if holder is not None:
        holder_model = load_model(f"models:/{name}/{holder.version}", device, registry)
        incumbent = evaluate_on_store(
            holder_model,
            store,
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
