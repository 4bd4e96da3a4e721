"""The record of every colorization in MLflow: one run per scene in ``geocolor-monitoring``.

``colorize`` logs a run with the drift report (:mod:`geocolor.models.drift`) so that a
model's inputs can be watched over time (``geocolor monitor`` reads these runs back).
The schema is fixed here, for writer and readers alike:

- run tags :data:`TAG_MODEL_URI`, :data:`TAG_MODEL_NAME` and :data:`TAG_MODEL_VERSION`
  (when the model came from the registry), :data:`TAG_SCENE`, :data:`TAG_OUTPUT`
  (empty when nothing was written), :data:`TAG_VERDICT` (``ok``, ``warn``, ``drift``,
  or ``unknown`` for a model without a drift reference) and :data:`TAG_WORST_BAND`;
- metrics ``psi.<band>`` and ``wasserstein.<band>`` (dB), the band names made
  MLflow-safe by :func:`metric_band_name`;
- the full report as the artifact :data:`REPORT_ARTIFACT`.

Monitoring must never cost a colorization: a tracking server that cannot be reached
is warned about once per URI and the run is skipped.
"""

from __future__ import annotations

import logging
import math
import re
import time

import mlflow
from mlflow.entities import Metric

from geocolor.errors import one_line
from geocolor.models.drift import DriftReport
from geocolor.models.tracking import quick_tracking

log = logging.getLogger("geocolor.models.monitoring")

EXPERIMENT = "geocolor-monitoring"
TAG_MODEL_URI = "geocolor.model_uri"
TAG_MODEL_NAME = "geocolor.model_name"
TAG_MODEL_VERSION = "geocolor.model_version"
TAG_SCENE = "geocolor.scene"
TAG_OUTPUT = "geocolor.output"
TAG_VERDICT = "geocolor.drift_verdict"
TAG_WORST_BAND = "geocolor.drift_worst_band"
PSI_PREFIX = "psi."
WASSERSTEIN_PREFIX = "wasserstein."
REPORT_ARTIFACT = "drift_report.json"
#: The verdict of a colorization whose model carries no drift reference.
UNKNOWN = "unknown"
#: How every reader draws a verdict (the app's badge, ``geocolor monitor --plot``).
VERDICT_COLOURS = {"ok": "#2e7d32", "warn": "#f0a000", "drift": "#c62828", UNKNOWN: "#757575"}
#: Appended to an output's path for the drift report written beside it.
SIDECAR_SUFFIX = ".drift.json"


def metric_band_name(band: str) -> str:
    """``"VV sigma0 dB"`` -> ``"VV_sigma0_dB"``: letters, digits, ``_``, ``-`` and ``.`` only."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", band.strip())


def log_colorization(
    report: DriftReport | None,
    *,
    model_uri: str,
    model_name: str | None,
    model_version: str | None,
    scene: str,
    output: str | None,
) -> str | None:
    """Log one colorization as a finished run of :data:`EXPERIMENT`; its run id.

    Goes to the current tracking URI without touching an active run. None, with a
    warning the first time, when the tracking server cannot be reached.
    """
    tags = {
        TAG_MODEL_URI: model_uri,
        TAG_SCENE: scene,
        TAG_OUTPUT: output or "",
        TAG_VERDICT: report.verdict if report else UNKNOWN,
        TAG_WORST_BAND: report.worst_band.band if report and report.worst_band else "",
        **({TAG_MODEL_NAME: model_name} if model_name else {}),
        **({TAG_MODEL_VERSION: model_version} if model_version else {}),
    }
    try:
        client = mlflow.MlflowClient()
        with quick_tracking():  # a dead server costs seconds, not minutes of retries
            found = client.get_experiment_by_name(EXPERIMENT)
            experiment = found.experiment_id if found else client.create_experiment(EXPERIMENT)
            run = client.create_run(experiment, tags=tags, run_name=_run_name(scene))
            if report is not None:
                client.log_batch(run.info.run_id, metrics=_metrics(report))
                client.log_dict(run.info.run_id, report.to_dict(), REPORT_ARTIFACT)
            client.set_terminated(run.info.run_id)
    # whatever the tracking client raises (HTTP, database, permissions), colorizing goes on
    except Exception as exc:
        _warn_unreachable(mlflow.get_tracking_uri(), one_line(exc))
        return None
    return str(run.info.run_id)


def _metrics(report: DriftReport) -> list[Metric]:
    now = int(time.time() * 1000)
    metrics = []
    for band in report.bands:
        name = metric_band_name(band.band)
        for prefix, value in ((PSI_PREFIX, band.psi), (WASSERSTEIN_PREFIX, band.wasserstein_db)):
            if math.isfinite(value):  # a band without data has no score
                metrics.append(Metric(prefix + name, float(value), now, 0))
    return metrics


def _run_name(scene: str) -> str:
    return scene.rstrip("/").rsplit("/", 1)[-1][:200]


def _warn_unreachable(tracking_uri: str, reason: str) -> None:
    """Warn once per tracking URI: a long-running app colorizes many scenes."""
    if tracking_uri in _WARNED:
        return
    _WARNED.add(tracking_uri)
    log.warning(
        "monitoring: cannot log the colorization to %s (%s); going on without it",
        tracking_uri,
        reason,
    )


_WARNED: set[str] = set()
