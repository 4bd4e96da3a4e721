"""The app's drift badge and warning, and the verdict a result carries from disk."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from geocolor.app.drift_badge import (
    DRIFT_WARNING,
    NO_REFERENCE,
    DriftStatus,
    badge_html,
    drift_warning,
)
from geocolor.app.results import ResultFiles, drift_status
from geocolor.errors import GeocolorError
from geocolor.models.drift import DriftReference, DriftReport, SarHistograms, compare
from geocolor.models.drift_facts import SarFacts

FACTS = SarFacts(modes=("IW",), polarisations=("VV", "VH"))


def report(shift_db: float, band: str = "VV sigma0 dB", facts: SarFacts = FACTS) -> DriftReport:
    def counted(seed: int, shift: float) -> SarHistograms:
        histograms = SarHistograms.empty([band])
        histograms.add(np.random.default_rng(seed).normal(-12 + shift, 2, (1, 40, 40)))
        return histograms

    return compare(DriftReference(counted(0, 0.0), FACTS), counted(1, shift_db), facts)


def attribute(badge: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', badge)
    assert found, badge
    return html.unescape(found[1])


@pytest.mark.parametrize(
    ("shift_db", "verdict", "colour"),
    [(0.0, "ok", "#2e7d32"), (0.9, "warn", "#f0a000"), (6.0, "drift", "#c62828")],
)
def test_badge_colour_text_and_hover_follow_the_report(
    shift_db: float, verdict: str, colour: str
) -> None:
    drifted = report(shift_db)
    assert drifted.verdict == verdict
    badge = badge_html(DriftStatus.from_report(drifted.to_dict()))
    assert badge.startswith('<span class="geocolor-drift"') and badge.endswith("</span>")
    assert f"background-color:{colour};" in badge
    assert f">input drift: {verdict}</span>" in badge
    worst = drifted.worst_band
    assert worst is not None
    title = attribute(badge, "title")
    assert title == drifted.summary()
    assert f"worst band VV sigma0 dB ({worst.scores()})" in title


def test_unknown_is_grey_and_says_why() -> None:
    badge = badge_html(NO_REFERENCE)
    assert "background-color:#757575;" in badge and ">input drift: unknown</span>" in badge
    assert attribute(badge, "title") == "unknown: the model carries no drift reference"
    assert drift_warning(NO_REFERENCE) is None


def test_a_verdict_never_heard_of_is_grey() -> None:
    assert "background-color:#757575;" in badge_html(DriftStatus("odd", "odd: ?"))


def test_text_from_the_report_is_escaped() -> None:
    status = DriftStatus('drift"><script>', 'drift: worst band <b>"VV"</b> & co')
    badge = badge_html(status)
    assert "<script>" not in badge and "<b>" not in badge
    assert badge.count('"') == 8  # the attributes' own quotes only
    assert attribute(badge, "title") == status.summary
    assert attribute(badge, "data-verdict") == status.verdict


def test_only_drift_carries_a_warning_naming_the_cause() -> None:
    drifted = report(0.0, facts=SarFacts(modes=("EW",), polarisations=("VV", "VH")))
    status = DriftStatus.from_report(drifted.to_dict())
    warning = drift_warning(status)
    assert warning is not None and warning.startswith(DRIFT_WARNING)
    assert "mode: scene EW, model IW" in warning and "(drift:" not in warning
    assert drift_warning(DriftStatus.from_report(report(0.9).to_dict())) is None


def test_a_result_reads_its_verdict_from_the_report_beside_the_cog(tmp_path: Path) -> None:
    files = ResultFiles(tmp_path / "key")
    files.folder.mkdir()
    assert drift_status(files) == NO_REFERENCE
    drifted = report(6.0)
    files.drift_report.write_text(json.dumps(drifted.to_dict()))
    assert files.drift_report.name == "colorized.tif.drift.json"
    assert drift_status(files) == DriftStatus("drift", drifted.summary())
    files.drift_report.write_text("{not json")
    with pytest.raises(GeocolorError, match="drift report cannot be read"):
        drift_status(files)
    files.drift_report.write_text("{}")
    with pytest.raises(GeocolorError, match="lacks its verdict"):
        drift_status(files)
