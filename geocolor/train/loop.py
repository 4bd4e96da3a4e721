"""``geocolor train``: drive a backend over the prepared store, tracked in MLflow.

The driver owns everything but the networks: data, seeding, mixed precision, the epoch
loop, validation, MLflow logging and registration; devices and the process group
(:mod:`~geocolor.train.placement`), checkpoints (:mod:`~geocolor.train.checkpoints`) and
scoring (:mod:`~geocolor.train.evaluation`) live beside it. Only rank 0 talks to MLflow
and writes checkpoints; the others train and wait for it at each epoch's end. A run that
dies is ended FAILED (an error) or KILLED (Ctrl-C, a termination signal) in MLflow, and
one killed after its last checkpoint but before registration is finished by ``--resume``.
"""

from __future__ import annotations

import json
import logging
import posixpath
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import islice
from typing import Any

import mlflow
import numpy as np
import pydantic
import torch
from mlflow.entities import RunStatus
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, default_collate

from geocolor.config import Config
from geocolor.errors import UsageError
from geocolor.models.backend import EFFECTIVE_OPTIONS, Backend, Trainer
from geocolor.models.layers import calibrate_frozen_statistics
from geocolor.models.logged import ModelSpec, log_generator, register_generator
from geocolor.models.model_code import git_commit
from geocolor.models.model_registry import (
    EPOCHS_TAG,
    METRICS_TAG,
    experiment_id,
    run_versions,
)
from geocolor.models.normalisation import Normalisation
from geocolor.plugins.manager import get_plugins
from geocolor.plugins.registry import Registry
from geocolor.prepare.store import TileTable, open_store
from geocolor.prepare.tiling import Split
from geocolor.progress import progress
from geocolor.train.baselines import baseline_scores, skill
from geocolor.train.checkpoints import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from geocolor.train.dataset import (
    Sample,
    TileDataset,
    check_crop,
    make_loader,
    seed_everything,
    set_loader_epoch,
)
from geocolor.train.divergence import LossWatch, check_weights
from geocolor.train.drift_fit import fit_drift_reference
from geocolor.train.normalisation_fit import fit_normalisation
from geocolor.train.placement import Placement, placement
from geocolor.train.promotion import promote_if_better
from geocolor.train.run_config import TrainConfig
from geocolor.train.run_hooks import RunHooks, TrainResult
from geocolor.train.sample_grid import sample_grid
from geocolor.train.scoring import score_generator
from geocolor.train.store_data import StoreData

log = logging.getLogger("geocolor.train.loop")

# training tiles whose pooled statistics become the saved model's frozen ones
CALIBRATION_TILES = 16
#: Validation tiles pictured after each epoch.
GRID_ROWS = 4


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
    if checkpoint and int(checkpoint["epoch"]) + 1 == config.epochs:
        _check_unregistered(resume or "", checkpoint)
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


def _compiled(network: torch.nn.Module) -> torch.nn.Module:
    """``torch.compile(network)``, typed as the module it stands in for."""
    compiled: torch.nn.Module = torch.compile(network)  # type: ignore[assignment]
    return compiled


def _check_unregistered(path: str, checkpoint: Mapping[str, Any]) -> None:
    """A finished checkpoint resumes only to register a model its run died before logging."""
    done = int(checkpoint["epoch"]) + 1
    registered = run_versions(str(checkpoint["run_id"]))
    if any(version.tags.get(EPOCHS_TAG) == str(done) for version in registered):
        raise UsageError(
            f"{path}: the checkpoint has done {done} of {done} epochs already and its model "
            "is registered; raise --epochs to train longer"
        )


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
        #: The baselines' val metrics (rank 0), set before the first epoch.
        self.baselines: dict[str, float] = {}

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
        if config.channels_last:
            for network in trainer.networks().values():
                network.to(memory_format=torch.channels_last)
        first_epoch, step = 0, 0
        metrics: dict[str, float] = {}
        if checkpoint:
            trainer.load_state_dict(checkpoint["trainer"])
            restore_rng(checkpoint["rng"])
            first_epoch, step = int(checkpoint["epoch"]) + 1, int(checkpoint["step"])
            metrics = dict(checkpoint.get("metrics", {}))
            # the schedule of a run planned for config.epochs from the start
            trainer.end_epoch(first_epoch - 1, config.epochs)
        self._wrap(trainer)
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
        loader = make_loader(
            train_set,
            config.batch_size,
            epoch=first_epoch,
            shuffle=True,
            num_workers=config.num_workers,
            seed=config.seed,
            distributed=where.world_size > 1,
            pin_memory=where.device.type == "cuda",
            persistent=True,
            batch_by_scene=config.batch_by_scene,
        )
        with self._mlflow_run(checkpoint["run_id"] if checkpoint else None) as run_id:
            epochs: Iterable[int] = range(first_epoch, config.epochs)
            if where.is_main and not checkpoint:
                self._log_start(run_id, trainer, len(train_tiles), len(val_tiles))
            if where.is_main:
                self._log_baselines(val_tiles)
            if where.is_main:
                epochs = progress(
                    epochs, total=config.epochs - first_epoch, desc="epochs", unit="epoch"
                )
            for epoch in epochs:
                set_loader_epoch(loader, epoch)
                step = self._train_epoch(trainer, loader, epoch, step, amp)
                trainer.end_epoch(epoch, config.epochs)
                if where.is_main:
                    metrics = self._validate(trainer.generator, val_set, epoch)
                    state = self._checkpoint_state(trainer, epoch, step, run_id, metrics)
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

    def _wrap(self, trainer: Trainer) -> None:
        """DDP across processes, then ``torch.compile``, around the networks a step runs."""
        config, where = self.config, self.where
        if where.world_size > 1:
            device_ids = [where.device] if where.device.type == "cuda" else None
            trainer.wrap(lambda network: DistributedDataParallel(network, device_ids=device_ids))
        if config.compile:
            trainer.wrap(_compiled)

    @contextmanager
    def _mlflow_run(self, run_id: str | None) -> Iterator[str]:
        """The run (new, or resumed), ended FAILED or KILLED however the block dies."""
        if not self.where.is_main:
            yield ""
            return
        experiment = None if run_id else experiment_id(self.config.experiment)
        # a name of our own (MLflow draws its from the global generator, seeded per run),
        # unless the caller names it; name and tags belong to a new run only
        own_name = self.hooks.run_name or f"{self.config.backend}-{secrets.token_hex(4)}"
        name = None if run_id else own_name
        tags = None if run_id else dict(self.hooks.tags)
        with mlflow.start_run(
            run_id=run_id, experiment_id=experiment, run_name=name, tags=tags
        ) as run:
            try:
                yield run.info.run_id
            except Exception:
                mlflow.end_run(RunStatus.to_string(RunStatus.FAILED))
                raise
            except BaseException:  # Ctrl-C, or a signal the CLI turned into an exception
                mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
                raise

    def _log_start(self, run_id: str, trainer: Trainer, train_count: int, val_count: int) -> None:
        """Parameters (the effective ones), normalisation and provenance tags of a new run."""
        config = self.config.model_dump(mode="json", exclude={"backend_options"})
        options = self.options.model_dump(mode="json")
        effective = getattr(trainer, EFFECTIVE_OPTIONS, None)
        if effective is not None:
            options.update(effective())
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

    def _log_baselines(self, val_tiles: TileTable) -> None:
        """Score the baselines on the val tiles: the bar every epoch's skill is measured by."""
        self.baselines = baseline_scores(
            self.store,
            val_tiles,
            data_range=self.config.data_range,
            batch_size=self.config.batch_size,
        )
        mlflow.log_metrics({f"val_{name}": value for name, value in self.baselines.items()})

    def _train_epoch(
        self,
        trainer: Trainer,
        loader: DataLoader[Sample],
        epoch: int,
        step: int,
        amp: bool,
    ) -> int:
        config, where = self.config, self.where
        steps = min(len(loader), config.steps_per_epoch or len(loader))
        batches: Iterable[Mapping[str, torch.Tensor]] = islice(loader, steps)
        if where.is_main:
            batches = progress(batches, total=steps, desc=f"epoch {epoch + 1}", unit="step")
        memory_format = torch.channels_last if config.channels_last else torch.preserve_format
        # sums stay on the device: reading a loss would wait for the GPU at every step
        sums: dict[str, torch.Tensor | float] = {}
        count = 0
        watch = LossWatch(where.device)
        for batch in batches:
            on_device = {
                key: value.to(where.device, non_blocking=True, memory_format=memory_format)
                for key, value in batch.items()
            }
            losses = trainer.train_step(on_device, amp)
            for name, value in losses.items():
                sums[name] = sums.get(name, 0.0) + value
            step, count = step + 1, count + 1
            watch.add(step, losses)
            if step % config.log_every == 0:
                watch.check()
            if where.is_main and step % config.log_every == 0:
                mean_losses = {f"loss_{k}": float(total) / count for k, total in sums.items()}
                mlflow.log_metrics(mean_losses, step=step)
                sums, count = {}, 0
        watch.check()
        check_weights(trainer.networks(), step)
        return step

    def _validate(
        self,
        generator: torch.nn.Module,
        dataset: TileDataset,
        epoch: int,
    ) -> dict[str, float]:
        """Log the val metrics and a picture of the first few val tiles.

        The generator is scored as ``colorize`` runs it (scene statistics); its per-tile
        instance-norm scores are logged beside as ``val_tilenorm_*``.
        """
        metrics = score_generator(
            generator,
            self.normalisation,
            self.where.device,
            self.store.path,
            dataset.tiles,
            self.store.layout.tile_size,
            data_range=self.config.data_range,
            batch_size=self.config.batch_size,
            tile_norm_too=True,
        )
        metrics["skill"] = skill(metrics, self.baselines)
        mlflow.log_metrics({f"val_{name}": value for name, value in metrics.items()}, step=epoch)
        metrics |= self.baselines
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
        self, trainer: Trainer, epoch: int, step: int, run_id: str, metrics: Mapping[str, float]
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
            "metrics": dict(metrics),
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
            self.store.optical_conventions,
        )
        tags = {
            "backend": config.backend,
            "data_fingerprint": self.store.fingerprint,
            "git_commit": git_commit(),
            EPOCHS_TAG: str(config.epochs),
            # the run's metrics now: a resumed run logs on, and its versions must not mix
            METRICS_TAG: json.dumps(mlflow.get_run(run_id).data.metrics, sort_keys=True),
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
