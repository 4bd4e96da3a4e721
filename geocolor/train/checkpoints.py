"""Training checkpoints: the state a resumed run needs, written so a crash cannot corrupt it.

A checkpoint is plain data (tensors, numbers, lists) that a safe ``torch.load``
(``weights_only``) reads: the trainer's state, the epoch and step reached, the MLflow run,
the normalisation, the configuration and store it continues, and every random
generator's state.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import fsspec
import numpy as np
import torch

from geocolor.errors import GeocolorError, UsageError
from geocolor.io.filesystems import atomic_write
from geocolor.train.run_config import TrainConfig
from geocolor.train.store_data import StoreData

CHECKPOINT_FORMAT = "geocolor-checkpoint/1"


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
    if int(state["epoch"]) + 1 > config.epochs:
        raise UsageError(
            f"{path}: the checkpoint has done {int(state['epoch']) + 1} epochs, more than "
            f"the {config.epochs} asked for; raise --epochs to train longer"
        )
    return state
