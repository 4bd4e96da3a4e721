"""Reading the monitoring runs back: a model's recent colorizations, newest first.

``colorize`` logs a run per scene (:mod:`geocolor.models.monitoring`); ``geocolor
monitor`` lists them for one model, by registered name (all versions, one version, or
the version an alias points at now) or by the exact URI it was loaded from. Each run
becomes a :class:`Colorization`: when, which scene, the verdict (``unknown`` for a
model without a drift reference) and the per-band scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from geocolor.errors import GeocolorError, UsageError, one_line
from geocolor.models.model_registry import alias_holder, parse_registry_uri
from geocolor.models.monitoring import (
    EXPERIMENT,
    PSI_PREFIX,
    TAG_MODEL_NAME,
    TAG_MODEL_URI,
    TAG_MODEL_VERSION,
    TAG_OUTPUT,
    TAG_SCENE,
    TAG_VERDICT,
    TAG_WORST_BAND,
    UNKNOWN,
    WASSERSTEIN_PREFIX,
    metric_band_name,
)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class ModelSelection:
    """Which colorizations to list: by registered name (and version), or by exact URI."""

    name: str | None = None
    version: str | None = None
    uri: str | None = None

    def describe(self) -> str:
        """``"model geocolor version 3"``, for messages."""
        if self.name is None:
            return f"model {self.uri}"
        return f"model {self.name}" + (f" version {self.version}" if self.version else "")

    def filter_string(self) -> str:
        """The MLflow search filter on the run tags."""
        if self.name is None:
            return _equals(TAG_MODEL_URI, self.uri or "")
        clauses = [_equals(TAG_MODEL_NAME, self.name)]
        if self.version is not None:
            clauses.append(_equals(TAG_MODEL_VERSION, self.version))
        return " AND ".join(clauses)


def select_model(
    model: str, version: str | None = None, alias: str | None = None
) -> ModelSelection:
    """The runs ``model`` names: a registered name, or a URI (``models:/``, ``runs:/``, path).

    ``models:/NAME/VERSION`` and ``models:/NAME@ALIAS`` select that version of NAME (an
    alias as it points now, asked of the registry), so runs logged through an alias or
    the version count alike; any other URI or path (it holds a ``/``) selects runs of
    exactly that URI.

    Raises
    ------
    UsageError
        When ``version`` or ``alias`` come with a URI, or together.
    GeocolorError
        When no version holds the alias, or the registry cannot be reached.
    """
    if version is not None and alias is not None:
        raise UsageError("give a version or an alias, not both")
    if "/" in model:
        if version is not None or alias is not None:
            raise UsageError(f"{model} is a URI: it names its version itself")
        parts = parse_registry_uri(model)
        if parts is None:
            return ModelSelection(uri=model)
        model, version, alias = parts.name, parts.version, parts.alias
    if alias is not None:
        holder = _guarded(alias_holder, model, alias)
        if holder is None:
            raise GeocolorError(f"model {model!r}: no version holds the alias {alias!r}")
        return ModelSelection(model, holder.version)
    return ModelSelection(model, version)


@dataclass(frozen=True)
class Colorization:
    """One monitored colorization, as its run in :data:`EXPERIMENT` records it.

    Scores are keyed by the MLflow-safe band names (``VV_sigma0_dB``); a run without a
    drift reference (verdict ``unknown``) has none.
    """

    run_id: str
    time: datetime
    scene: str
    output: str | None
    model_uri: str
    model_name: str | None
    model_version: str | None
    verdict: str
    worst_band: str | None
    psi: dict[str, float]
    wasserstein_db: dict[str, float]

    @property
    def bands(self) -> list[str]:
        """The bands scored, in a stable order."""
        return sorted(self.psi.keys() | self.wasserstein_db.keys())

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; the time in ISO 8601, UTC."""
        return {
            "time": self.time.isoformat(),
            "run_id": self.run_id,
            "scene": self.scene,
            "output": self.output,
            "model_uri": self.model_uri,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "verdict": self.verdict,
            "worst_band": self.worst_band,
            "psi": dict(sorted(self.psi.items())),
            "wasserstein_db": dict(sorted(self.wasserstein_db.items())),
        }


def colorizations(
    selection: ModelSelection, *, limit: int, since: datetime | None = None
) -> list[Colorization]:
    """The selected model's latest ``limit`` colorizations (from ``since``), newest first.

    Empty when the tracking server has no monitoring experiment yet.

    Raises
    ------
    GeocolorError
        When the tracking server cannot be reached.
    """
    client = mlflow.MlflowClient()
    experiment = _guarded(client.get_experiment_by_name, EXPERIMENT)
    if experiment is None:
        return []
    query = selection.filter_string()
    if since is not None:
        query += f" AND attributes.start_time >= {int(since.timestamp() * 1000)}"
    runs = _guarded(
        client.search_runs,
        [experiment.experiment_id],
        filter_string=query,
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    return [_colorization(run) for run in runs]


def _colorization(run: Run) -> Colorization:
    tags, metrics = run.data.tags, run.data.metrics
    return Colorization(
        run_id=run.info.run_id,
        time=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
        scene=tags.get(TAG_SCENE, ""),
        output=tags.get(TAG_OUTPUT) or None,
        model_uri=tags.get(TAG_MODEL_URI, ""),
        model_name=tags.get(TAG_MODEL_NAME),
        model_version=tags.get(TAG_MODEL_VERSION),
        verdict=tags.get(TAG_VERDICT, UNKNOWN),
        worst_band=metric_band_name(worst) if (worst := tags.get(TAG_WORST_BAND)) else None,
        psi=_scores(metrics, PSI_PREFIX),
        wasserstein_db=_scores(metrics, WASSERSTEIN_PREFIX),
    )


def _scores(metrics: dict[str, float], prefix: str) -> dict[str, float]:
    return {
        name.removeprefix(prefix): value
        for name, value in metrics.items()
        if name.startswith(prefix)
    }


def _equals(tag: str, value: str) -> str:
    """``tags.`TAG` = 'VALUE'``: MLflow filters know no escapes, so quote with what is absent."""
    for quote in ("'", '"'):
        if quote not in value:
            return f"tags.`{tag}` = {quote}{value}{quote}"
    raise UsageError(f"{value!r}: a name with both kinds of quote cannot be searched for")


def _guarded(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args)``, an unreachable tracking server as one line."""
    try:
        return function(*args, **kwargs)
    except (MlflowException, OSError) as exc:
        where = mlflow.get_tracking_uri()
        raise GeocolorError(
            f"MLflow at {where} cannot be reached ({one_line(exc)[:200]})"
        ) from None
