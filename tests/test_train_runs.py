"""Training-run bookkeeping with the real backends on tiny tiles: resume, names, params, status."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from geocolor.errors import UsageError
from geocolor.models.model_registry import list_versions
from geocolor.train import loop
from geocolor.train.divergence import DivergedError, check_weights
from geocolor.train.loop import train
from geocolor.train.run_config import TrainConfig
from tests.test_train import store  # noqa: F401 (a fixture)

TINY = {
    "cyclegan": {"ngf": 4, "n_blocks": 1, "ndf": 4, "pool_size": 0},
    "pix2pix": {"ngf": 4, "ndf": 4, "depth": 3},
}


def tiny(backend: str, **changes: Any) -> TrainConfig:
    """A real backend, small enough for a second per epoch: 4 steps of 4 32-px tiles."""
    values: dict[str, Any] = {
        "backend": backend,
        "backend_options": TINY[backend],
        "epochs": 2,
        "batch_size": 4,
        "num_workers": 0,
        "log_every": 2,
        "val_max_tiles": 4,
        "seed": 2,
    }
    return TrainConfig(**{**values, **changes})


def generator_weights(checkpoint: str) -> dict[str, torch.Tensor]:
    state = torch.load(checkpoint, weights_only=True)
    weights: dict[str, torch.Tensor] = state["trainer"]["networks"]["generator"]
    return weights


def test_resume_with_more_epochs_trains_on_and_keeps_each_versions_metrics(
    store: str,  # noqa: F811
    tracking: str,
) -> None:
    first = train(store, tiny("cyclegan"))
    twin = train(store, tiny("cyclegan", channels_last=True))
    client = mlflow.MlflowClient()
    names = {client.get_run(r.run_id).info.run_name for r in (first, twin)}
    assert len(names) == 2, "two runs of one seed share a name"
    # NHWC changes the order of sums only
    assert twin.metrics["psnr"] == pytest.approx(first.metrics["psnr"], abs=0.1)

    params = client.get_run(first.run_id).data.params
    # 2 SAR bands cannot feed the SAR -> optical generator: the identity loss is off
    assert params["backend.lambda_identity"] == "0.0"
    assert params["backend.lambda_paired"] == "30.0"

    before = generator_weights(first.checkpoint)
    resumed = train(store, tiny("cyclegan", epochs=3), resume=first.checkpoint)
    after = generator_weights(resumed.checkpoint)
    assert resumed.run_id == first.run_id
    # the old run's schedule ends at learning rate 0: the third epoch must still learn
    assert any(not torch.equal(before[k], after[k]) for k in before)
    state = torch.load(resumed.checkpoint, weights_only=True)
    assert state["trainer"]["generator_optimizer"]["param_groups"][0]["lr"] == 0.0

    rows = {row.info.version: row.metrics for row in list_versions("geocolor")}
    assert rows["1"]["val_psnr"] == pytest.approx(first.metrics["psnr"])
    assert rows["3"]["val_psnr"] == pytest.approx(resumed.metrics["psnr"])
    assert rows["1"]["val_psnr"] != rows["3"]["val_psnr"]


def test_runs_that_die_are_marked_and_a_finished_one_resumes_to_register(
    store: str,  # noqa: F811
    tracking: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(*args: Any) -> None:
        raise RuntimeError("registry down")

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    client = mlflow.MlflowClient()
    with monkeypatch.context() as patch:
        patch.setattr(loop, "log_generator", fail)
        with pytest.raises(RuntimeError):
            train(store, tiny("pix2pix"))
        patch.setattr(loop, "log_generator", interrupt)
        with pytest.raises(KeyboardInterrupt):
            train(store, tiny("pix2pix"))
    failed, killed = sorted(
        client.search_runs([client.get_experiment_by_name("geocolor").experiment_id]),
        key=lambda run: run.info.start_time,
    )
    assert (failed.info.status, killed.info.status) == ("FAILED", "KILLED")
    assert not client.search_model_versions(f"run_id = '{killed.info.run_id}'")

    checkpoint = str(Path("checkpoints") / killed.info.run_id / "last.pt")
    finished = train(store, tiny("pix2pix"), resume=checkpoint)
    assert finished.run_id == killed.info.run_id
    assert client.get_run(finished.run_id).info.status == "FINISHED"
    history = client.get_metric_history(finished.run_id, "val_psnr")
    assert sorted(m.step for m in history) == [0, 1]  # registered, not trained again
    assert finished.metrics["psnr"] == pytest.approx(history[-1].value)
    with pytest.raises(UsageError, match="has done 2 of 2 epochs already"):
        train(store, tiny("pix2pix"), resume=checkpoint)
    with pytest.raises(UsageError, match="more than the 1 asked for"):
        train(store, tiny("pix2pix", epochs=1), resume=checkpoint)


def test_sigterm_marks_the_run_killed(store: str, tracking: str) -> None:  # noqa: F811
    """``kill`` (a scheduler's time limit, ``docker stop``) ends the run KILLED, not RUNNING."""
    command = [sys.executable, "-m", "geocolor.cli", "--quiet", "train", store]
    command += ["--backend", "pix2pix", "--epochs", "50", "--num-workers", "0"]
    for key, value in TINY["pix2pix"].items():
        command += ["-O", f"{key}={value}"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list(Path("checkpoints").glob("*/last.pt")):
            assert process.poll() is None, "train ended before it could be stopped"
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM, err
    (run_id,) = [path.parent.name for path in Path("checkpoints").glob("*/last.pt")]
    assert mlflow.MlflowClient().get_run(run_id).info.status == "KILLED"


def test_a_diverging_run_stops_failed_and_registers_nothing(
    store: str,  # noqa: F811
    tracking: str,
) -> None:
    options = {**TINY["pix2pix"], "lr": 1e30}
    with pytest.raises(
        DivergedError, match=r"^training diverged at step \d+: loss .* is not finite"
    ):
        train(store, tiny("pix2pix", backend_options=options))
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("geocolor")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert not client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert not (Path("checkpoints") / run.info.run_id).exists()


def test_non_finite_weights_name_the_network_and_step() -> None:
    network = torch.nn.Linear(2, 2)
    check_weights({"generator": network}, 7)
    with torch.no_grad():
        network.bias[1] = float("nan")
    with pytest.raises(DivergedError, match="by step 7: generator weight bias is not finite"):
        check_weights({"generator": network}, 7)
