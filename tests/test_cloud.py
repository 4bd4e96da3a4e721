"""``geocolor cloud train``: the VM's commands and startup script, checked offline."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from geocolor.cli.main import build_cli
from geocolor.errors import GeocolorError, UsageError
from geocolor.train.accelerator import Accelerator, parse_accelerator
from geocolor.train.gce_vm import (
    CONFIG_IN_CONTAINER,
    CREDENTIALS_ON_HOST,
    SCRIPT_DELIMITER,
    TrainJob,
    run_train,
    startup_script,
)

IMAGE = "europe-west4-docker.pkg.dev/team/geocolor/train:0123abc"
SETTINGS = [
    "--project=team",
    "--zone=europe-west4-a",
    f"--image={IMAGE}",
    "--mlflow-uri=http://10.10.0.2:5000",
    "--name=geocolor-train-test",
]
SECRETS = {
    "MLFLOW_TRACKING_PASSWORD": "hunter2-mlflow",
    "SH_CLIENT_SECRET": "hunter2-sentinelhub",
    "PGPASSWORD": "hunter2-postgres",
}


def dry_run(*args: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run ``cloud train --dry-run``; return the startup script and the create argv."""
    result = CliRunner().invoke(
        build_cli(), ["cloud", "train", *SETTINGS, "--dry-run", *args], env=env
    )
    assert result.exit_code == 0, result.output
    head, _, rest = result.output.partition("\n")
    script, _, command = rest.partition(f"{SCRIPT_DELIMITER}\n")
    assert head == f"cat > geocolor-train-test-startup.sh <<'{SCRIPT_DELIMITER}'"
    argv = shlex.split(command)
    assert command.count("\n") == 1, "one command after the script"
    return script, argv


def script_commands(script: str) -> list[list[str]]:
    """Each line of the script outside the config heredoc, as an argv."""
    commands, in_config = [], False
    for line in script.splitlines():
        if in_config:
            in_config = line != "GEOCOLOR_CONFIG"
            continue
        in_config = line.endswith("<<'GEOCOLOR_CONFIG'")
        if line and not line.startswith("#"):
            commands.append(shlex.split(line))
    return commands


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "train.yaml"
    path.write_text("# my run\nepochs: 3\nbackend_options:\n  ngf: 32\n", encoding="utf-8")
    return path


def test_create_command_starts_the_template_with_the_script(config: Path) -> None:
    _, argv = dry_run("gs://team-data/pairs.zarr", f"--config={config}", "--gpu=nvidia-l4:2")
    assert argv[:5] == ["gcloud", "compute", "instances", "create", "geocolor-train-test"]
    options = dict(arg.split("=", 1) for arg in argv[5:])
    assert options == {
        "--project": "team",
        "--zone": "europe-west4-a",
        "--source-instance-template": "geocolor-train",
        "--accelerator": "type=nvidia-l4,count=2",
        "--max-run-duration": "24h",
        "--instance-termination-action": "DELETE",
        "--metadata-from-file": "startup-script=geocolor-train-test-startup.sh",
        "--labels": "geocolor-job=train",
    }


def test_script_deletes_its_vm_on_exit_before_doing_anything(config: Path) -> None:
    script, _ = dry_run("gs://team-data/pairs.zarr", f"--config={config}")
    commands = script_commands(script)
    assert commands[0] == ["set", "-euo", "pipefail"]
    trap, deleted, signal = commands[1]
    assert (trap, signal) == ("trap", "EXIT")
    assert shlex.split(deleted) == [
        "gcloud",
        "compute",
        "instances",
        "delete",
        "geocolor-train-test",
        "--project=team",
        "--zone=europe-west4-a",
        "--quiet",
    ]


def test_script_trains_the_store_with_the_local_config(config: Path) -> None:
    script, _ = dry_run(
        "gs://team-data/pairs.zarr", f"--config={config}", "--", "--epochs", "5", "-O", "ngf=16"
    )
    embedded = script.split("<<'GEOCOLOR_CONFIG'\n", 1)[1].split("\nGEOCOLOR_CONFIG\n", 1)[0]
    assert yaml.safe_load(embedded) == yaml.safe_load(config.read_text(encoding="utf-8"))
    docker = script_commands(script)[-1]
    assert docker[:2] == ["docker", "run"]
    assert "--gpus=all" in docker
    assert "--env=MLFLOW_TRACKING_URI=http://10.10.0.2:5000" in docker
    image_at = docker.index(IMAGE)
    assert docker[image_at + 1 :] == [
        "train",
        "gs://team-data/pairs.zarr",
        "--config",
        CONFIG_IN_CONTAINER,
        "--epochs",
        "5",
        "-O",
        "ngf=16",
    ]
    assert ["gcloud", "auth", "configure-docker", "europe-west4-docker.pkg.dev", "--quiet"] in (
        script_commands(script)
    )


def test_several_gpus_train_under_torchrun(config: Path) -> None:
    script, _ = dry_run("gs://d/p.zarr", "--gpu=nvidia-tesla-t4:4")
    docker = script_commands(script)[-1]
    assert "--entrypoint=torchrun" in docker
    after_image = docker[docker.index(IMAGE) + 1 :]
    assert after_image == ["--nproc-per-node=4", "-m", "geocolor.cli", "train", "gs://d/p.zarr"]


def test_no_secret_from_the_environment_reaches_the_output(config: Path) -> None:
    script, argv = dry_run("gs://d/p.zarr", f"--config={config}", env=SECRETS)
    for value in SECRETS.values():
        assert value not in script
        assert value not in shlex.join(argv)


def write_tool(folder: Path, name: str, body: str) -> None:
    tool = folder / name
    tool.write_text(f"#!/bin/bash\n{body}\n", encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("docker_status", [0, 3])
def test_script_deletes_the_vm_whether_training_succeeds_or_fails(
    tmp_path: Path, docker_status: int
) -> None:
    """Run the real script under bash with stand-ins for gcloud, nvidia-smi and docker."""
    log = tmp_path / "calls.log"
    for tool in ("gcloud", "nvidia-smi"):
        write_tool(tmp_path, tool, f'echo "{tool} $*" >> {log}')
    write_tool(tmp_path, "docker", f'echo "docker $*" >> {log}; exit {docker_status}')
    job = TrainJob(
        name="geocolor-train-x",
        project="team",
        zone="europe-west4-a",
        template="geocolor-train",
        image=IMAGE,
        store="gs://d/p.zarr",
        mlflow_uri="http://10.10.0.2:5000",
    )
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", startup_script(job)], env=env, capture_output=True, check=False
    )
    assert result.returncode == docker_status
    calls = log.read_text(encoding="utf-8").splitlines()
    assert calls[-2].startswith("docker run ")
    assert calls[-1] == (
        "gcloud compute instances delete geocolor-train-x "
        "--project=team --zone=europe-west4-a --quiet"
    )


def test_run_train_creates_the_vm_with_gcloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: Path
) -> None:
    log = tmp_path / "gcloud.log"
    script_copy = tmp_path / "script.sh"
    write_tool(
        tmp_path,
        "gcloud",
        f'echo "$*" > {log}; for a; do case $a in --metadata-from-file=startup-script=*) '
        f'cp "${{a#*=startup-script=}}" {script_copy};; esac; done',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    job = TrainJob(
        name="geocolor-train-y",
        project="team",
        zone="z",
        template="t",
        image=IMAGE,
        store="gs://d/p.zarr",
        mlflow_uri="http://m:5000",
        accelerator=Accelerator("nvidia-l4"),
    )
    run_train(job)
    argv = shlex.split(log.read_text(encoding="utf-8"))
    assert argv[:4] == ["compute", "instances", "create", "geocolor-train-y"]
    assert "--accelerator=type=nvidia-l4,count=1" in argv
    assert script_copy.read_text(encoding="utf-8") == startup_script(job)


def test_run_train_reports_a_missing_or_failing_gcloud(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = TrainJob("vm", "p", "z", "t", IMAGE, "gs://d/p.zarr", "http://m:5000")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GeocolorError, match="gcloud was not found on PATH"):
        run_train(job)
    write_tool(tmp_path, "gcloud", "exit 1")
    with pytest.raises(GeocolorError, match="could not create the training VM vm"):
        run_train(job)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/data/pairs.zarr"], "/data/pairs.zarr: the training VM reads the store"),
        (["gs://d/p.zarr", "--gpu=nvidia l4"], "--gpu 'nvidia l4': expected TYPE"),
        (["gs://d/p.zarr", "--config=missing.yaml"], "missing.yaml: config file not found"),
    ],
)
def test_bad_input_is_one_line_usage_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(build_cli(), ["cloud", "train", *args, *SETTINGS, "--dry-run"])
    assert result.exit_code != 0
    assert isinstance(result.exception, UsageError)
    assert message in str(result.exception)


def test_config_is_checked_before_any_vm_starts(tmp_path: Path) -> None:
    bad = tmp_path / "train.yaml"
    bad.write_text("epochs: 3\nlearning_rate: 1\n", encoding="utf-8")
    result = CliRunner().invoke(
        build_cli(), ["cloud", "train", "gs://d/p.zarr", f"--config={bad}", *SETTINGS]
    )
    assert isinstance(result.exception, UsageError)
    assert "unknown key 'learning_rate'" in str(result.exception)


def test_instance_names_and_accelerators_are_validated() -> None:
    assert parse_accelerator("nvidia-l4") == Accelerator("nvidia-l4", 1)
    assert parse_accelerator("nvidia-h100-80gb:8") == Accelerator("nvidia-h100-80gb", 8)
    with pytest.raises(UsageError, match="instance name"):
        TrainJob("Train_1", "p", "z", "t", IMAGE, "gs://d/p.zarr", "http://m:5000")


def test_the_vm_signs_in_to_mlflow_with_a_credentials_file_from_secret_manager() -> None:
    secret = "geocolor-mlflow-training-credentials"
    script, _ = dry_run("gs://d/p.zarr", f"--mlflow-credentials-secret={secret}", env=SECRETS)
    commands = script_commands(script)
    fetch = next(command for command in commands if "secrets" in command)
    assert fetch == [
        "(umask",
        "077",
        "&&",
        "gcloud",
        "secrets",
        "versions",
        "access",
        "latest",
        f"--secret={secret}",
        "--project=team",
        ">",
        f"{CREDENTIALS_ON_HOST})",
    ]
    assert ["chown", "10001:10001", CREDENTIALS_ON_HOST] in commands
    docker = commands[-1]
    assert commands.index(fetch) < len(commands) - 1, "fetched before the run"
    assert f"--volume={CREDENTIALS_ON_HOST}:/home/geocolor/.mlflow/credentials:ro" in docker
    assert not [word for word in docker if "PASSWORD" in word or "USERNAME" in word]
    without, _ = dry_run("gs://d/p.zarr")
    assert "secrets" not in without and CREDENTIALS_ON_HOST not in without


def test_the_credentials_land_in_the_home_of_the_images_user() -> None:
    dockerfile = (Path(__file__).parents[1] / "docker" / "Dockerfile.train").read_text()
    assert "--uid 10001 --user-group --shell /usr/sbin/nologin geocolor" in dockerfile
    assert "--create-home" in dockerfile and "USER 10001:10001" in dockerfile
