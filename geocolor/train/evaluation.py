"""Scoring generators on a store split, and comparing scores for promotion."""

from __future__ import annotations

import math
from typing import Any

import mlflow

from geocolor.errors import GeocolorError
from geocolor.models.device import resolve_device
from geocolor.models.logged import LoadedModel, load_model
from geocolor.models.model_registry import experiment_id
from geocolor.plugins.registry import Registry
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import TileDataset, make_loader
from geocolor.train.metrics import HIGHER_IS_BETTER, evaluate_generator
from geocolor.train.store_data import StoreData


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
