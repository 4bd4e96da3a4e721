"""``geocolor monitor``: a model's recent colorizations and their drift verdicts.

The runs are read from the ``geocolor-monitoring`` experiment that ``colorize`` logs
to; MLflow and matplotlib are imported only when the command runs, so the module adds
nothing to ``geocolor --help``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from geocolor.models.monitoring_history import Colorization

_AGO = re.compile(r"^(?P<count>\d+)(?P<unit>[mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(ctx: click.Context, param: click.Parameter, text: str | None) -> datetime | None:
    """``--since``: ``7d``, ``12h``, ``30m`` or ``2w`` ago, or an ISO date/time (naive is UTC)."""
    if text is None:
        return None
    ago = _AGO.match(text.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago["unit"]]: int(ago["count"])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither like 7d, 12h, 30m nor an ISO date") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("monitor")
@click.argument("model")
@click.option("--version", "version", default=None, help="Only this version of MODEL.")
@click.option("--alias", default=None, help="Only the version ALIAS points at now.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Runs to list."
)
@click.option(
    "--since", callback=parse_since, default=None, help="From: 7d, 12h, 30m ago or an ISO date."
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as a JSON list.")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also draw the drift scores over time into this PNG.",
)
def monitor_command(
    model: str,
    version: str | None,
    alias: str | None,
    limit: int,
    since: datetime | None,
    as_json: bool,
    plot: str | None,
) -> None:
    """List a model's recent colorizations: time, scene, drift verdict and scores.

    MODEL is a registered name (every version, or --version / --alias), a registry URI
    (models:/NAME/VERSION, models:/NAME@ALIAS) or the runs:/ URI or path a scene was
    colorized with. Newest first; runs of a model without a drift reference show the
    verdict "unknown". Scores per band: PSI and the Wasserstein distance W1 (dB).
    """
    from geocolor.models.monitoring_history import colorizations, select_model

    selection = select_model(model, version, alias)
    runs = colorizations(selection, limit=limit, since=since)
    if as_json:
        click.echo(json.dumps([run.to_dict() for run in runs], indent=2))
    if not runs:
        click.echo(f"no colorizations of {selection.describe()} monitored", err=as_json)
        return
    if not as_json:
        for line in table(runs):
            click.echo(line)
    if plot:
        from geocolor.models.monitoring_plot import plot_drift

        plot_drift(runs, plot, f"input drift of {selection.describe()}")
        click.echo(f"plot: {plot}", err=True)


def table(runs: Sequence[Colorization]) -> list[str]:
    """The runs as aligned text lines, a header first, a PSI and a W1 column per band."""
    bands = sorted({band for run in runs for band in run.bands})
    header = ["TIME (UTC)", "MODEL", "SCENE", "VERDICT", "WORST BAND"]
    header += [f"{kind} {band}" for band in bands for kind in ("PSI", "W1")]
    rows = [header]
    for run in runs:
        scores = [
            _score(values.get(band)) for band in bands for values in (run.psi, run.wasserstein_db)
        ]
        rows.append(
            [
                run.time.strftime("%Y-%m-%d %H:%M:%S"),
                _model(run),
                run.scene.rstrip("/").rsplit("/", 1)[-1],
                run.verdict,
                run.worst_band or "-",
                *scores,
            ]
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _model(run: Colorization) -> str:
    if run.model_name is None:
        return run.model_uri
    return run.model_name + (f"/{run.model_version}" if run.model_version else "")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
