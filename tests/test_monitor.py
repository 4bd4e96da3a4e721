"""``geocolor monitor``: a model's monitored colorizations as a table, JSON and a plot."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import matplotlib.image
import mlflow
import numpy as np
import pytest
from click.testing import CliRunner, Result

from geocolor.cli import main
from geocolor.cli.monitor import monitor_command, parse_since
from geocolor.models.drift import DriftReference, DriftReport, SarHistograms, compare
from geocolor.models.drift_facts import SarFacts
from geocolor.models.monitoring import VERDICT_COLOURS, log_colorization
from geocolor.models.monitoring_history import ModelSelection, colorizations, select_model
from geocolor.models.monitoring_plot import HEIGHT_PX, WIDTH_PX

BANDS = ("VV sigma0 dB", "VH sigma0 dB")
FACTS = SarFacts(missions=("S1A",), modes=("IW",), polarisations=("VV", "VH"))


def histograms(seed: int, shift_db: float = 0.0) -> SarHistograms:
    counted = SarHistograms.empty(BANDS)
    rng = np.random.default_rng(seed)
    counted.add(rng.normal((-12 + shift_db, -19 + shift_db), 2.0, (20, 20, 2)).T)
    return counted


REFERENCE = DriftReference(histograms(0), FACTS)
OK = compare(REFERENCE, histograms(1), FACTS)
DRIFT = compare(REFERENCE, histograms(2, shift_db=6.0), FACTS)


def log(
    report: DriftReport | None, scene: str, uri: str, name: str | None, version: str | None
) -> None:
    assert log_colorization(
        report,
        model_uri=uri,
        model_name=name,
        model_version=version,
        scene=f"/data/{scene}",
        output=f"/out/{scene}",
    )
    time.sleep(0.01)  # each run its own start time, so the order is known


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Oldest first: v1 ok, v2 drift, v1 without reference, and two runs of other models."""
    folder = tmp_path_factory.mktemp("monitoring")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # artifacts go to ./mlruns
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        log(OK, "a.tif", "models:/geocolor/1", "geocolor", "1")
        log(DRIFT, "b.tif", "models:/geocolor@prod", "geocolor", "2")
        log(None, "c.tif", "models:/geocolor/1", "geocolor", "1")
        log(OK, "d.tif", "models:/other/1", "other", "1")
        log(DRIFT, "e.tif", "runs:/0123abcd/model", None, None)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(None)


@pytest.fixture
def env(tracking: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    mlflow.set_tracking_uri(tracking)
    return tracking


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(monitor_command, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_table_lists_the_models_runs_newest_first(env: str) -> None:
    header, *rows = invoke("geocolor").stdout.splitlines()
    assert re.split(r"\s{2,}", header)[:5] == [
        "TIME (UTC)",
        "MODEL",
        "SCENE",
        "VERDICT",
        "WORST BAND",
    ]
    assert "PSI VV_sigma0_dB" in header and "W1 VH_sigma0_dB" in header
    cells = [row.split() for row in rows]
    assert [(row[2], row[3], row[4]) for row in cells] == [
        ("geocolor/1", "c.tif", "unknown"),
        ("geocolor/2", "b.tif", "drift"),
        ("geocolor/1", "a.tif", "ok"),
    ]
    assert cells[0][5:] == ["-"] * 5  # no worst band, no scores
    worst = DRIFT.worst_band
    assert worst is not None
    assert cells[1][5] == worst.band.replace(" ", "_")
    scores = [float(value) for value in cells[1][6:]]
    assert len(scores) == 4 and all(score > 1 for score in scores)
    assert all(float(value) < 0.5 for value in cells[2][6:])


def test_json_holds_every_score_in_order(env: str) -> None:
    runs = json.loads(invoke("geocolor", "--json").stdout)
    assert [run["scene"] for run in runs] == ["/data/c.tif", "/data/b.tif", "/data/a.tif"]
    times = [datetime.fromisoformat(run["time"]) for run in runs]
    assert times == sorted(times, reverse=True) and times[0].tzinfo is not None
    unknown, drift, ok = runs
    assert unknown["verdict"] == "unknown" and unknown["psi"] == unknown["wasserstein_db"] == {}
    assert unknown["output"] == "/out/c.tif" and unknown["model_version"] == "1"
    assert drift["verdict"] == "drift" and drift["model_uri"] == "models:/geocolor@prod"
    for run, report in ((drift, DRIFT), (ok, OK)):
        for band in report.bands:
            name = band.band.replace(" ", "_")
            assert run["psi"][name] == pytest.approx(band.psi)
            assert run["wasserstein_db"][name] == pytest.approx(band.wasserstein_db)
    assert ok["verdict"] == "ok"


def test_limit_version_and_uri_select_runs(env: str) -> None:
    def scenes(*args: str) -> list[str]:
        return [run["scene"][6:] for run in json.loads(invoke(*args, "--json").stdout)]

    assert scenes("geocolor", "--limit", "2") == ["c.tif", "b.tif"]
    assert scenes("geocolor", "--version", "1") == ["c.tif", "a.tif"]
    assert scenes("models:/geocolor/2") == ["b.tif"]
    assert scenes("other") == ["d.tif"]
    assert scenes("runs:/0123abcd/model") == ["e.tif"]
    assert scenes("geocolor", "--since", "1h") == ["c.tif", "b.tif", "a.tif"]
    assert scenes("geocolor", "--since", "2999-01-01") == []


def test_since_splits_the_record_at_a_moment(env: str) -> None:
    runs = colorizations(ModelSelection("geocolor"), limit=10)
    middle = runs[1].time
    later = colorizations(ModelSelection("geocolor"), limit=10, since=middle)
    assert [run.scene for run in later] == ["/data/c.tif", "/data/b.tif"]


def test_nothing_monitored_is_one_line_and_exit_0(env: str) -> None:
    result = invoke("nobody")
    assert result.stdout == "no colorizations of model nobody monitored\n"
    result = invoke("nobody", "--json")
    assert json.loads(result.stdout) == []
    assert result.stderr == "no colorizations of model nobody monitored\n"


def test_no_monitoring_experiment_yet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = f"sqlite:///{tmp_path}/empty.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    try:
        assert colorizations(ModelSelection("geocolor"), limit=5) == []
        assert invoke("geocolor").stdout == "no colorizations of model geocolor monitored\n"
    finally:
        mlflow.set_tracking_uri(None)


def test_plot_draws_the_scores_coloured_by_verdict(env: str, tmp_path: Path) -> None:
    png = tmp_path / "drift.png"
    result = invoke("geocolor", "--plot", str(png))
    assert result.stdout.startswith("TIME (UTC)") and f"plot: {png}" in result.stderr
    image = matplotlib.image.imread(png)
    assert image.shape == (HEIGHT_PX, WIDTH_PX, 4)
    pixels = (image[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for verdict in ("ok", "drift", "warn", "unknown"):  # points, thresholds, the unscored run
        colour = np.array([int(VERDICT_COLOURS[verdict][i : i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(pixels - colour).max(axis=1) <= 8).sum() > 50, verdict
    assert len(np.unique(pixels, axis=0)) > 50


def test_usage_errors_exit_2(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "models:/geocolor/1", "--version", "2"]) == 2
    assert "is a URI" in capsys.readouterr().err
    assert main(["monitor", "geocolor", "--version", "1", "--alias", "prod"]) == 2
    assert main(["monitor", "geocolor", "--since", "last week"]) == 2
    assert "neither like 7d" in capsys.readouterr().err


def test_an_alias_nobody_holds_is_one_line(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "geocolor", "--alias", "production"]) == 1
    assert capsys.readouterr().err == (
        "geocolor: error: model 'geocolor': no version holds the alias 'production'\n"
    )


def test_select_model_reads_registry_uris_without_the_registry() -> None:
    assert select_model("models:/geocolor/3") == ModelSelection("geocolor", "3")
    assert select_model("geocolor", version="3") == ModelSelection("geocolor", "3")
    assert select_model("./local/model") == ModelSelection(uri="./local/model")
    with_quote = ModelSelection("o'brien").filter_string()
    assert with_quote == 'tags.`geocolor.model_name` = "o\'brien"'


@pytest.mark.parametrize(
    ("text", "age"),
    [("30m", timedelta(minutes=30)), ("12h", timedelta(hours=12)), ("2w", timedelta(weeks=2))],
)
def test_since_ago(text: str, age: timedelta) -> None:
    moment = parse_since(click.Context(monitor_command), click.Option(["--since"]), text)
    assert moment is not None
    assert abs(datetime.now(UTC) - age - moment) < timedelta(seconds=5)


def test_since_iso_naive_is_utc() -> None:
    moment = parse_since(click.Context(monitor_command), click.Option(["--since"]), "2025-03-01")
    assert moment == datetime(2025, 3, 1, tzinfo=UTC)
