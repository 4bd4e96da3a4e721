"""The drift verdict beside a result: a coloured badge, and a warning for ``drift``.

A colorization of a scene unlike the model's training input looks as confident as any
other, so the app says what ``colorize`` found: ``ok`` green, ``warn`` amber, ``drift``
red, ``unknown`` grey (a model without a drift reference), with the worst band and its
scores on hover. The verdict comes from the report ``colorize`` writes beside the COG,
so a result reused from disk shows the same badge as a fresh one. Pure functions of
text, so they are tested without Streamlit.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geocolor.errors import GeocolorError
from geocolor.models.monitoring import UNKNOWN, VERDICT_COLOURS

#: What a ``drift`` result says above the map.
DRIFT_WARNING = (
    "This scene is unlike the data the model was trained on: the colours may not be trustworthy."
)


@dataclass(frozen=True)
class DriftStatus:
    """A result's verdict and the one-line summary (worst band, scores, mismatched facts)."""

    verdict: str
    summary: str

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> DriftStatus:
        """From a drift report as ``colorize`` writes it (the sidecar's JSON)."""
        try:
            return cls(str(report["verdict"]), str(report["summary"]))
        except (KeyError, TypeError):
            raise GeocolorError("the result's drift report lacks its verdict") from None


#: The status of a result whose model carries no drift reference (no report beside it).
NO_REFERENCE = DriftStatus(UNKNOWN, "unknown: the model carries no drift reference")


def badge_html(status: DriftStatus) -> str:
    """An inline ``<span>`` coloured by verdict, its title (the hover text) the summary."""
    colour = VERDICT_COLOURS.get(status.verdict, VERDICT_COLOURS[UNKNOWN])
    style = (
        f"background-color:{colour};color:#ffffff;padding:0.15em 0.6em;"
        "border-radius:0.8em;font-weight:600;font-size:0.9em;cursor:help"
    )
    return (
        f'<span class="geocolor-drift" data-verdict="{html.escape(status.verdict)}" '
        f'title="{html.escape(status.summary)}" style="{style}">'
        f"input drift: {html.escape(status.verdict)}</span>"
    )


def drift_warning(status: DriftStatus) -> str | None:
    """The warning a ``drift`` result carries, naming what drifted; None otherwise."""
    if status.verdict != "drift":
        return None
    return f"{DRIFT_WARNING} ({status.summary.removeprefix('drift: ')})"
