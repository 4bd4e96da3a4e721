from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest
from click.testing import CliRunner, Result

from geocolor.cli.train import evaluate_command, models_group, train_command
from geocolor.errors import GeocolorError
from geocolor.models.logged import load_model
from geocolor.plugins.manager import get_plugins
from geocolor.prepare.store import group_array, open_store
from geocolor.prepare.tiling import Split
from geocolor.train.baselines import BASELINES
from geocolor.train.evaluation import evaluate_on_store
from geocolor.train.metrics import METRICS
from geocolor.train.store_data import StoreData
from tests.servers import mlflow_server
from tests.test_dataset import synthetic_pair, write_synthetic_store
from tests.test_train import install_linear_backend, tracking_template, use_fresh_tracking

QUICK = ["--backend", "linear", "--batch-size", "4", "--num-workers", "0"]


@pytest.fixture
def linear_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield install_linear_backend(tmp_path, monkeypatch)
    get_plugins.cache_clear()


@pytest.fixture
def tracking(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    linear_plugin: Path,
) -> str:
    return use_fresh_tracking(tmp_path, tmp_path_factory, monkeypatch)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_store(tmp_path_factory.mktemp("models") / "store.zarr")


@pytest.fixture(scope="module")
def beatable_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store whose reflectance saturates: no affine fit of the SAR, unlike :func:`store`.

    There the linear baseline is exact, so no model has positive skill.
    """
    path = write_synthetic_store(tmp_path_factory.mktemp("beatable") / "store.zarr")
    optical = group_array(open_store(path, "r+"), "pairs/S1A_X__S2A_Y/s2")
    values = optical[:]
    low, high = np.nanpercentile(values, [30, 70], axis=(1, 2))[..., None, None]
    optical[:] = np.clip(values, low, high)
    return path


def invoke(command: object, args: list[str]) -> Result:
    result = CliRunner().invoke(command, args)  # type: ignore[arg-type]
    if result.exception and not isinstance(result.exception, (SystemExit, GeocolorError)):
        raise result.exception
    return result


def trained(store: str, *args: str) -> list[str]:
    result = invoke(train_command, [store, *QUICK, *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()


def listed(name: str = "geocolor") -> dict[str, list[str]]:
    """``models list`` rows by version."""
    result = invoke(models_group, ["list", name])
    assert result.exit_code == 0, result.output
    header, *rows = (line.split() for line in result.stdout.strip().splitlines())
    assert header[:4] == ["NAME", "VERSION", "ALIASES", "BACKEND"]
    return {row[1]: row for row in rows}


def test_promote_moves_an_alias_and_list_shows_versions(store: str, tracking: str) -> None:
    assert trained(store, "--epochs", "1")[-1] == "models:/geocolor/1"
    assert trained(store, "--epochs", "2", "--seed", "1")[-1] == "models:/geocolor/2"

    rows = listed()
    assert set(rows) == {"1", "2"}
    assert rows["1"][2] == "-" and rows["1"][3] == "linear"
    assert all(float(value) for value in rows["2"][4:])  # val psnr, ssim, sam, l1, hf, skill
    # the registered version's run carries the baselines, and its skill is measured by them
    client = mlflow.MlflowClient()
    logged = client.get_run(client.get_model_version("geocolor", "2").run_id).data
    assert {f"val_baseline_{b}_{m}" for b in BASELINES for m in METRICS} <= set(logged.metrics)
    skill = logged.metrics["val_psnr"] - logged.metrics["val_baseline_linear_psnr"]
    assert logged.metrics["val_skill"] == pytest.approx(skill)
    assert float(rows["2"][-1]) == pytest.approx(skill, abs=1e-3 * abs(skill) + 1e-3)
    assert logged.params["data_range"] == "1.0"

    for version in ("1", "2"):
        result = invoke(models_group, ["promote", "geocolor", version, "--alias", "production"])
        assert result.exit_code == 0 and "version " + version in result.stdout
        assert listed()[version][2] == "production"
    assert listed()["1"][2] == "-"

    missing = invoke(models_group, ["promote", "geocolor", "9", "--alias", "production"])
    assert isinstance(missing.exception, GeocolorError)
    assert str(missing.exception) == "model 'geocolor' has no version 9"
    unknown = invoke(models_group, ["list", "nothing"])
    assert str(unknown.exception) == "no registered model called 'nothing'"


def test_evaluate_scores_the_test_split_and_logs_a_run(store: str, tracking: str) -> None:
    trained(store, "--epochs", "2")
    result = invoke(evaluate_command, ["models:/geocolor/1", store, "--split", "test"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split() for line in result.stdout.strip().splitlines())
    scored = {*METRICS, "skill"} | {f"baseline_{b}_{m}" for b in BASELINES for m in METRICS}
    assert set(lines) == {f"test_{name}" for name in scored} | {"run"}
    skill = float(lines["test_psnr"]) - float(lines["test_baseline_linear_psnr"])
    assert float(lines["test_skill"]) == pytest.approx(skill, abs=2e-4)

    run = mlflow.MlflowClient().get_run(lines["run"])
    assert run.data.tags["model_uri"] == "models:/geocolor/1"
    assert run.data.params["split"] == "test" and run.data.params["data_range"] == "1.0"
    model = load_model("models:/geocolor/1")
    direct = evaluate_on_store(model, StoreData.open(store), Split.TEST, None, 4)
    assert run.data.tags["model_name"] == "geocolor" and run.data.tags["model_version"] == "1"
    assert run.data.tags["backend"] == "linear"
    assert run.data.metrics["test_psnr"] == pytest.approx(direct["psnr"])
    assert float(lines["test_psnr"]) == pytest.approx(direct["psnr"], abs=1e-4)
    # the val split gives other numbers: the split option is honoured
    val = invoke(evaluate_command, ["models:/geocolor/1", store, "--split", "val"])
    assert "val_psnr" in val.stdout and val.stdout.split()[1] != lines["test_psnr"]


def test_promote_if_better_refuses_a_model_without_skill(store: str, tracking: str) -> None:
    """Nothing beats the exact linear fit of :func:`store`: promotion is refused, saying why."""
    refused = trained(store, "--epochs", "1", "--promote-if-better", "production")
    assert refused[-2].startswith("alias production not moved to version 1: val skill -")
    assert "does not beat the per-pixel linear baseline" in refused[-2]
    assert listed()["1"][2] == "-"


def test_promote_if_better_moves_the_alias_only_for_a_better_model(
    beatable_store: str, tracking: str
) -> None:
    store = beatable_store
    promote = ["--promote-if-better", "production"]
    first = trained(store, "--epochs", "6", "--lr", "0.2", *promote)
    assert first[-2:] == ["alias production moved to version 1", "models:/geocolor/1"]

    worse = trained(store, "--epochs", "1", "--lr", "1e-6", *promote)
    assert worse[-2].startswith("alias production not moved to version 2")
    assert listed()["1"][2] == "production"

    better = trained(store, "--epochs", "12", "--lr", "0.2", *promote)
    assert better[-2] == "alias production moved to version 3"
    rows = listed()
    assert rows["3"][2] == "production" and rows["1"][2] == "-"
    assert float(rows["3"][4]) > float(rows["1"][4]) > float(rows["2"][4])
    assert float(rows["3"][-1]) > 0  # the skill column

    with_ssim = trained(store, "--epochs", "1", *promote, "--metric", "ssim")
    assert with_ssim[-2].startswith("alias production not moved to version 4")


def test_train_options_are_checked_before_work(store: str, tracking: str) -> None:
    bad_pair = invoke(train_command, [store, *QUICK, "-O", "lr"])
    assert bad_pair.exit_code == 2 and "KEY=VALUE" in bad_pair.output
    unknown = invoke(train_command, [store, *QUICK, "-O", "depth=3"])
    assert "backend_options.depth" in str(unknown.exception)
    pipeline = Path("train.yaml")
    pipeline.write_text("epochs: 0\n")
    wrong = invoke(train_command, [store, *QUICK, "--config", str(pipeline)])
    assert "key 'epochs'" in str(wrong.exception)
    assert not Path("checkpoints").exists()


def test_registered_model_round_trip_through_a_tracking_server(
    store: str,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    linear_plugin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real ``mlflow server``: train, register, set an alias, load by alias, predict."""
    database = tmp_path / "server.db"
    shutil.copy(tracking_template(tmp_path_factory), database)
    with mlflow_server(database, str(tmp_path / "artifacts")) as url:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.chdir(tmp_path)
        assert trained(store, "--epochs", "1", "--model-name", "served")[-1] == "models:/served/1"
        invoke(models_group, ["promote", "served", "1", "--alias", "production"])
        assert listed("served")["1"][2] == "production"

        sar, _, _ = synthetic_pair(48, 80, seed=5)  # any size: the signature is free
        model = load_model("models:/served@production")
        reflectance = model.predict(sar[None])
        assert reflectance.shape == (1, 3, 48, 80) and reflectance.dtype == np.float32
        assert np.isfinite(reflectance[0, :, 10:, 10:]).all()
        served = mlflow.pyfunc.load_model("models:/served@production")
        np.testing.assert_array_equal(served.predict(sar[None]), reflectance)
        assert any((tmp_path / "artifacts").rglob("generator.pt"))
        assert not (tmp_path / "mlruns").exists()
