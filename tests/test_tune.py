"""``geocolor tune``: the search space file, a study end to end, resuming, shared workers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import optuna
import pytest
from click.testing import CliRunner

from geocolor.cli.main import build_cli, main
from geocolor.errors import UsageError
from geocolor.train.tune import default_storage
from geocolor.train.tune_space import read_space
from geocolor_cyclegan.config import CycleGANConfig
from tests.test_dataset import write_synthetic_store
from tests.test_train import REPOSITORY, LinearConfig

# the linear test backend learns the synthetic store at lr 0.05 and not at all at 1e-7:
# that slow region is the crafted bad one the pruner must cut
SPACE = "lr: {type: categorical, choices: [0.05, 1.0e-7]}\n"
PIPELINE = "num_workers: 0\nbatch_size: 4\nsteps_per_epoch: 4\nlog_every: 1\nval_max_tiles: 4\n"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_store(tmp_path_factory.mktemp("tune") / "store.zarr")


@pytest.fixture
def files(tmp_path: Path) -> tuple[str, str]:
    space, pipeline = tmp_path / "space.yaml", tmp_path / "train.yaml"
    space.write_text(SPACE)
    pipeline.write_text(PIPELINE)
    return str(space), str(pipeline)


def _tune(store: str, files: tuple[str, str], *extra: str) -> str:
    space, pipeline = files
    result = CliRunner().invoke(
        build_cli(),
        [
            *("tune", store, "--backend", "linear", "--space", space, "--config", pipeline),
            *("--epochs", "2", *extra),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return result.output


def _study_runs(client: mlflow.MlflowClient) -> tuple[list[mlflow.entities.Run], list]:
    experiment = client.get_experiment_by_name("geocolor")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [run for run in runs if run.data.tags.get("mlflow.runName", "").startswith("tune-")]
    children = [run for run in runs if "mlflow.parentRunId" in run.data.tags]
    return parents, children


def test_a_study_prunes_the_bad_region_registers_the_best_and_resumes(
    store: str, files: tuple[str, str], tracking: str, linear_plugin: Path
) -> None:
    output = _tune(store, files, "--trials", "4", "--seed", "6", "--promote-if-better", "best")
    assert "models:/geocolor/1" in output.splitlines()
    assert "alias best moved to version 1" in output
    client = mlflow.MlflowClient()
    (parent,), children = _study_runs(client)
    assert len(children) == 4
    assert {run.data.tags["mlflow.parentRunId"] for run in children} == {parent.info.run_id}
    states = {run.data.tags["optuna.state"]: run.info.status for run in children}
    assert states == {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}
    pruned = [run for run in children if run.data.tags["optuna.state"] == "PRUNED"]
    assert all(run.data.params["backend.lr"] == "1e-07" for run in pruned)
    assert parent.data.params["best.lr"] == "0.05"
    assert parent.info.status == "FINISHED"
    artifacts = {item.path for item in client.list_artifacts(parent.info.run_id)}
    assert "optimization_history.png" in artifacts
    (version,) = client.search_model_versions("name = 'geocolor'")
    assert version.run_id == parent.data.tags["best_run"]
    # a rerun goes on with the same study, parent run and registered version
    output = _tune(store, files, "--trials", "1", "--seed", "2")
    assert "models:/geocolor/1" in output.splitlines()
    (again,), children = _study_runs(client)
    assert again.info.run_id == parent.info.run_id
    assert len(children) == 5
    study = optuna.load_study(study_name="geocolor", storage=default_storage(tracking))
    assert len(study.trials) == 5


def test_two_worker_processes_share_one_study(
    store: str, files: tuple[str, str], tmp_path: Path, tracking: str, linear_plugin: Path
) -> None:
    space, pipeline = files
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(linear_plugin), str(REPOSITORY)]),
        "MLFLOW_TRACKING_URI": tracking,
        "OMP_NUM_THREADS": "1",
    }
    command = [
        *(sys.executable, "-m", "geocolor.cli", "-q", "tune", store, "--backend", "linear"),
        *("--space", space, "--config", pipeline, "--epochs", "2", "--trials", "2"),
        *("--study", "shared", "--storage", storage),
    ]
    workers = [
        subprocess.Popen(
            [*command, "--seed", str(seed)],
            env=environment,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    for worker, (_, error) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, error[-3000:]
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4
    parents, children = _study_runs(mlflow.MlflowClient())
    assert len(parents) == 1
    assert len(children) == 4


def test_no_trials_or_timeout_is_a_usage_error(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tune", store]) == 2
    assert "give --trials, --timeout or both" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lr: {type: float, low: 0.1, high: 0.01}\n", "lr: low 0.1 must be below high 0.01"),
        ("lr: {type: float, low: 0, high: 1, log: true}\n", "log scale needs low > 0"),
        ("learning_rate: {type: float, low: 0, high: 1}\n", "unknown parameter 'learning_rate'"),
        ("lr: {type: gaussian}\n", "lr: value: Input tag 'gaussian'"),
        ("lr: {type: int, low: 1}\n", "lr: high: Field required"),
        ("lr: {type: categorical, choices: []}\n", "lr: choices: List should have at least"),
        ("- lr\n", "must be a mapping"),
        ("", "a search space names at least one parameter"),
    ],
)
def test_a_bad_space_is_one_line_naming_the_file(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as error:
        read_space(str(path), LinearConfig)
    assert str(path) in str(error.value)


def test_the_default_space_fits_the_default_backend() -> None:
    space = read_space(str(REPOSITORY / "pipelines" / "tune.yaml"), CycleGANConfig)
    assert {"lr", "ngf", "n_blocks", "batch_size", "tile_size"} <= set(space.distributions)


def test_default_storage_sits_beside_the_mlflow_database(tmp_path: Path) -> None:
    assert default_storage(f"sqlite:///{tmp_path}/mlflow.db") == f"sqlite:///{tmp_path}/optuna.db"
    assert default_storage("http://127.0.0.1:5000") == "sqlite:///optuna.db"
