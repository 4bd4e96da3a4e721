"""Moving an alias to a new model version only when it is better: ``--promote-if-better``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import mlflow
import torch

from geocolor.models.logged import load_model
from geocolor.models.model_registry import alias_holder, promote
from geocolor.plugins.registry import Registry
from geocolor.prepare.tiling import Split
from geocolor.train.evaluation import evaluate_on_store, is_better, promotion_refusal
from geocolor.train.run_config import TrainConfig
from geocolor.train.store_data import StoreData

log = logging.getLogger(__name__)


def promote_if_better(
    config: TrainConfig,
    store: StoreData,
    version: str,
    metrics: Mapping[str, float],
    device: torch.device,
    registry: Registry[Any],
) -> bool:
    """Move ``config.promote_if_better`` to ``version`` if it beats the holder on val.

    A model without skill over the linear baseline is never promoted. Logs the
    incumbent's score and the decision in the active run.
    """
    alias, name = config.promote_if_better, config.model_name
    assert alias is not None
    refusal = promotion_refusal(metrics)
    if refusal is not None:
        log.warning("%s not moved to version %s: %s", alias, version, refusal)
        mlflow.set_tag("promotion", f"refused: {refusal}")
        return False
    holder = alias_holder(name, alias)
    if holder is not None:
        holder_model = load_model(f"models:/{name}/{holder.version}", device, registry)
        incumbent = evaluate_on_store(
            holder_model,
            store,
            Split.VAL,
            config.val_max_tiles,
            config.batch_size,
            config.data_range,
        )[config.metric]
        mlflow.log_metric(f"incumbent_val_{config.metric}", incumbent)
        if not is_better(config.metric, metrics[config.metric], incumbent):
            mlflow.set_tag("promotion", f"kept {alias} on version {holder.version}")
            return False
    promote(name, version, alias)
    mlflow.set_tag("promotion", f"{alias} moved to version {version}")
    return True
