"""What a caller hands a training run besides its settings, and what the run hands back."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


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
