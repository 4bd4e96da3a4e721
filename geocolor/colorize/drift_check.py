"""``colorize``'s drift report: is the scene like the model's training input?

The scene's facts (mission, mode, polarisations, processing) are compared first, from
its metadata alone, so a scene the model cannot read at all (a polarisation missing)
is reported as drift rather than failing in the reader. Its histograms are then
gathered over every pixel of the output grid, in strips of the processed scene (one
read of the local scratch file), and scored against the model's
:class:`~geocolor.models.drift.DriftReference`. The verdict goes into the COG's tags,
a JSON sidecar beside it and the MLflow monitoring run
(:mod:`geocolor.models.monitoring`).
"""

from __future__ import annotations

import json
import logging
import time

from geocolor.colorize.readers import SceneReader, scene_processing
from geocolor.errors import GeocolorError
from geocolor.io.filesystems import atomic_write
from geocolor.models.drift import DriftReport, DriftThresholds, SarHistograms, compare
from geocolor.models.drift_facts import SarFacts, scene_facts
from geocolor.models.logged import LoadedModel
from geocolor.models.monitoring import SIDECAR_SUFFIX, UNKNOWN
from geocolor.s1.facts import acquisition_facts
from geocolor.s1.source import S1Source

log = logging.getLogger("geocolor.colorize.drift")

# rows of the scene counted at once: bounded memory whatever the scene's width
STRIP_ROWS = 512


class DriftError(GeocolorError):
    """A scene refused for drift (``fail_on_drift``, or a polarisation the model needs)."""

    def __init__(self, message: str, report: DriftReport) -> None:
        super().__init__(message)
        self.report = report


def facts_of_scene(source: S1Source, model: LoadedModel) -> SarFacts:
    """The scene's facts, with the processing ``colorize`` applies to a raw product."""
    acquisition = acquisition_facts(source)
    processing = scene_processing(
        source, acquisition["processing"], model.normalisation.sar_bands, model.sar_processing
    )
    return scene_facts(acquisition, processing)


def check_facts(
    model: LoadedModel, facts: SarFacts, thresholds: DriftThresholds, fail_on_drift: bool
) -> DriftReport | None:
    """The report on facts alone, before any pixel is read; None without a reference.

    Raises
    ------
    DriftError
        When the scene lacks a polarisation the model reads, or the facts already make
        the verdict ``drift`` and ``fail_on_drift`` is set.
    """
    if model.drift_reference is None:
        return None
    report = compare(model.drift_reference, None, facts, thresholds)
    missing = any(m.fact == "polarisations" for m in report.mismatches)
    if missing or (fail_on_drift and report.verdict == "drift"):
        raise DriftError(f"input drift, not colorized: {report.summary()}", report)
    return report


def observe(reader: SceneReader, bands: tuple[str, ...]) -> SarHistograms:
    """Histograms of every pixel of the reader's grid, gathered strip by strip."""
    started = time.perf_counter()
    histograms = SarHistograms.empty(bands)
    height, width = reader.grid.shape
    for row0 in range(0, height, STRIP_ROWS):
        histograms.add(reader.read(row0, 0, min(STRIP_ROWS, height - row0), width))
    log.info(
        "drift statistics over %d x %d pixels in %.2f s",
        width,
        height,
        time.perf_counter() - started,
    )
    return histograms


def assess(
    model: LoadedModel,
    reader: SceneReader,
    facts: SarFacts,
    thresholds: DriftThresholds,
    fail_on_drift: bool,
) -> DriftReport | None:
    """The full report over the scene's pixels; None (said once) without a reference.

    A ``drift`` verdict is logged as a warning naming its causes.

    Raises
    ------
    DriftError
        When the verdict is ``drift`` and ``fail_on_drift`` is set.
    """
    if model.drift_reference is None:
        _say_no_reference(model.uri)
        return None
    observed = observe(reader, model.normalisation.sar_bands)
    report = compare(model.drift_reference, observed, facts, thresholds)
    if report.verdict == "drift":
        if fail_on_drift:
            raise DriftError(f"input drift, not colorized: {report.summary()}", report)
        log.warning(
            "input drift: %s; the colours may not be trustworthy", "; ".join(report.causes())
        )
    else:
        log.info("input drift: %s", report.summary())
    return report


def drift_tags(report: DriftReport | None) -> dict[str, str]:
    """The COG tags ``drift_verdict`` and ``drift_summary``."""
    if report is None:
        return {"drift_verdict": UNKNOWN, "drift_summary": "the model carries no drift reference"}
    return {"drift_verdict": report.verdict, "drift_summary": report.summary()}


def write_sidecar(output: str, report: DriftReport) -> str:
    """The full report as JSON beside ``output`` (local or URL); its path."""
    path = output + SIDECAR_SUFFIX
    with atomic_write(path) as stream:
        stream.write(json.dumps(report.to_dict(), indent=2).encode())
    return path


_TOLD: set[str] = set()


def _say_no_reference(uri: str) -> None:
    """Once per model and process: an app colorizes many scenes with one model."""
    if uri not in _TOLD:
        _TOLD.add(uri)
        log.warning("%s carries no drift reference (logged before drift monitoring)", uri)
