"""A picture of a model's drift over time: ``geocolor monitor --plot FILE.png``.

Two panels share the time axis, the PSI above and the Wasserstein distance (dB)
below, each band with its own marker and every point coloured by its colorization's
verdict; the warn and drift thresholds are dashed lines. Colorizations with a model
that has no drift reference have no scores: they are grey vertical lines, so a gap in
the record is visible. Both axes are logarithmic: a scene of another kind scores ten
or a hundred times the thresholds, and on a linear axis it would flatten the rest.

matplotlib is driven through its object API on the Agg canvas, never pyplot, so no
display and no global figure state is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, date2num
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from geocolor.models.drift import DriftThresholds
from geocolor.models.monitoring import UNKNOWN, VERDICT_COLOURS
from geocolor.models.monitoring_history import Colorization

#: The picture's size in pixels.
WIDTH_PX, HEIGHT_PX = 1000, 600
DPI = 100
#: Scores are drawn no lower than this, so that a perfect 0 sits on the log axis.
FLOOR = 1e-3
MARKERS = "os^Dv<>pP*"


def plot_drift(
    history: Sequence[Colorization],
    path: str | Path,
    title: str,
    thresholds: DriftThresholds | None = None,
) -> None:
    """Draw ``history`` (any order) with the ``thresholds`` into the PNG ``path``."""
    thresholds = thresholds or DriftThresholds()
    runs = sorted(history, key=lambda run: run.time)
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    psi_axes, distance_axes = figure.subplots(2, 1, sharex=True)
    bands = sorted({band for run in runs for band in run.bands})
    _panel(
        psi_axes, "PSI", runs, bands, lambda run: run.psi, thresholds.psi_warn, thresholds.psi_drift
    )
    _panel(
        distance_axes,
        "Wasserstein (dB)",
        runs,
        bands,
        lambda run: run.wasserstein_db,
        thresholds.wasserstein_warn_db,
        thresholds.wasserstein_drift_db,
    )
    locator = AutoDateLocator()
    distance_axes.xaxis.set_major_locator(locator)
    distance_axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    distance_axes.set_xlabel("colorized at (UTC)")
    psi_axes.set_title(title)
    psi_axes.legend(handles=_legend(bands), loc="upper left", fontsize="small", ncols=2)
    figure.savefig(path, format="png")


def _panel(
    axes: Axes,
    label: str,
    runs: Sequence[Colorization],
    bands: Sequence[str],
    scores: Callable[[Colorization], dict[str, float]],
    warn: float,
    drift: float,
) -> None:
    """One score of every band over time, with its two thresholds."""
    for band, marker in zip(bands, MARKERS * len(bands), strict=False):
        scored = [run for run in runs if band in scores(run)]
        times = date2num([run.time for run in scored])
        values = [max(scores(run)[band], FLOOR) for run in scored]
        axes.plot(times, values, color="#bbbbbb", linewidth=0.8, zorder=1)
        colours = [VERDICT_COLOURS.get(run.verdict, VERDICT_COLOURS[UNKNOWN]) for run in scored]
        axes.scatter(times, values, c=colours, marker=marker, s=36, zorder=2)
    for run in runs:
        if not run.bands:
            axes.axvline(
                float(date2num(run.time)), color=VERDICT_COLOURS[UNKNOWN], linestyle=":", zorder=0
            )
    axes.axhline(warn, color=VERDICT_COLOURS["warn"], linestyle="--", linewidth=1)
    axes.axhline(drift, color=VERDICT_COLOURS["drift"], linestyle="--", linewidth=1)
    axes.set_yscale("log")
    axes.set_ylabel(label)
    axes.grid(True, which="major", alpha=0.3)


def _legend(bands: Sequence[str]) -> list[Line2D]:
    """A marker per band, then a colour per verdict."""
    handles = [
        Line2D([], [], color="black", marker=marker, linestyle="", label=band)
        for band, marker in zip(bands, MARKERS * len(bands), strict=False)
    ]
    for verdict, colour in VERDICT_COLOURS.items():
        style = {"linestyle": ":"} if verdict == UNKNOWN else {"marker": "o", "linestyle": ""}
        handles.append(Line2D([], [], color=colour, label=verdict, **style))  # type: ignore[arg-type]
    return handles
