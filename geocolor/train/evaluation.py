"""Scoring logged models on a store split, and comparing scores for promotion.

Models are scored as ``colorize`` runs them (:mod:`~geocolor.train.scoring`), beside
the baselines of :mod:`~geocolor.train.baselines`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mlflow

from geocolor.errors import GeocolorError
from geocolor.models.device import resolve_device
from geocolor.models.logged import LoadedModel, load_model
from geocolor.models.model_registry import experiment_id
from geocolor.plugins.registry import Registry
from geocolor.prepare.tiling import Split
from geocolor.train.baselines import baseline_scores, skill
from geocolor.train.metrics import DEFAULT_DATA_RANGE, HIGHER_IS_BETTER
from geocolor.train.scoring import score_generator
from geocolor.train.store_data import StoreData


def is_better(metric: str, candidate: float, incumbent: float) -> bool:
    """Whether ``candidate`` strictly beats ``incumbent`` on ``metric`` (NaN never does)."""
    if math.isnan(candidate):
        return False
    if math.isnan(incumbent):
        return True
    return candidate > incumbent if HIGHER_IS_BETTER[metric] else candidate < incumbent


def promotion_refusal(metrics: Mapping[str, float]) -> str | None:
    """Why a model with these val metrics may not be promoted at all; None if it may.

    A model below the per-pixel linear baseline (negative skill) has learnt nothing a
    regression would not, whatever the alias holder scores.
    """
    value = metrics.get("skill", math.nan)
    if value < 0 or math.isnan(value):
        return f"val skill {value:.2f} dB: the model does not beat the per-pixel linear baseline"
    return None


def evaluate_on_store(
    model: LoadedModel,
    store: StoreData,
    split: Split,
    max_tiles: int | None,
    batch_size: int,
    data_range: float = DEFAULT_DATA_RANGE,
) -> dict[str, float]:
    """Metrics of a loaded model on one split of a store, run as ``colorize`` runs it."""
    trained_on = (model.normalisation.sar_bands, model.normalisation.optical_bands)
    holds = (store.layout.sar_bands, store.layout.optical_bands)
    if trained_on != holds:
        raise GeocolorError(
            f"{model.uri}: trained on bands {trained_on}, but {store.path} holds {holds}"
        )
    return score_generator(
        model.generator,
        model.normalisation,
        model.device,
        store.path,
        store.split(split, max_tiles),
        store.layout.tile_size,
        data_range=data_range,
        batch_size=batch_size,
    )


def evaluate_model(
    model_uri: str,
    store_path: str,
    split: Split = Split.TEST,
    *,
    max_tiles: int | None = None,
    batch_size: int = 4,
    data_range: float = DEFAULT_DATA_RANGE,
    device: str = "auto",
    experiment: str = "geocolor",
    backends: Registry[Any] | None = None,
) -> tuple[str, dict[str, float]]:
    """Score a logged model on a store split and log the scores as an MLflow run.

    The run is tagged with the model's URI, backend and, for registry URIs, its name
    and version, so a model's evaluations can be searched for. The baselines, fitted on
    the store's train split, are scored on the same tiles, and the skill beside them.

    Returns
    -------
    run_id, metrics
        The evaluation run and its metrics: those of
        :data:`~geocolor.train.metrics.METRICS`, ``baseline_*`` and ``skill``.
    """
    store = StoreData.open(store_path)
    model = load_model(model_uri, resolve_device(device), backends)
    metrics = evaluate_on_store(model, store, split, max_tiles, batch_size, data_range)
    baselines = baseline_scores(
        store,
        store.split(split, max_tiles),
        data_range=data_range,
        batch_size=batch_size,
    )
    metrics |= baselines | {"skill": skill(metrics, baselines)}
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
                "data_range": data_range,
            }
        )
        mlflow.log_metrics({f"{prefix}_{name}": value for name, value in metrics.items()})
    return run.info.run_id, metrics
