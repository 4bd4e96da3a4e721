"""``geocolor cloud train --platform vertex``: the CustomJob spec, its submission, its sign-in.

The spec is checked offline by parsing the printed JSON back into the client library's
``CustomJob``; submission goes to a local stand-in for the Vertex AI REST endpoint.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import fsspec
import google.auth
import pytest
from click.testing import CliRunner
from google.auth.credentials import AnonymousCredentials
from google.cloud.aiplatform_v1.types import AcceleratorType, CustomJob

from geocolor.cli.main import build_cli, main
from geocolor.cli.tune import storage_from_secret
from geocolor.errors import GeocolorError
from geocolor.io.secrets import sign_in_to_mlflow_from_secret
from tests.servers import serving

STORE = "gs://geocolor-data/stores/pairs.zarr"
SECRET_NAME = "projects/demo/secrets/geocolor-mlflow-training-credentials"
VERTEX = [
    *("cloud", "train", STORE, "--platform", "vertex", "--project", "demo"),
    *("--region", "europe-west4", "--image", "europe-docker.pkg.dev/demo/geocolor/train:abc"),
    *("--mlflow-uri", "http://10.0.0.5:5000"),
    *("--service-account", "geocolor-vertex@demo.iam.gserviceaccount.com"),
    *("--network", "projects/123/global/networks/geocolor"),
    *("--mlflow-credentials-secret", SECRET_NAME),
    *("--name", "geocolor-train-20261205-120000"),
]


@dataclass
class FakeGoogleApis:
    """Vertex AI's ``customJobs.create`` and Secret Manager's ``access``, recorded."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)
    refuse: bool = False
    base_url: str = ""


class _Handler(BaseHTTPRequestHandler):
    state: FakeGoogleApis

    def log_message(self, *args: object) -> None:
        pass

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.state.paths.append(self.path.split("?")[0])
        if self.state.refuse:
            self._reply(403, {"error": {"code": 403, "message": "Permission denied"}})
            return
        self.state.jobs.append(body)
        parent = self.path.split("?")[0].removeprefix("/v1/").removesuffix("/customJobs")
        self._reply(200, {**body, "name": f"{parent}/customJobs/42", "state": "JOB_STATE_QUEUED"})

    def do_GET(self) -> None:
        name = self.path.removeprefix("/v1/").removesuffix(":access").split("/versions/")[0]
        if name not in self.state.secrets:
            self._reply(404, {"error": {"code": 404}})
            return
        data = base64.b64encode(self.state.secrets[name].encode()).decode()
        self._reply(200, {"payload": {"data": data}})


@pytest.fixture()
def apis(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(google.auth, "default", lambda **_: (AnonymousCredentials(), None))
    with serving(_Handler, FakeGoogleApis()) as state:
        yield state


def _run(args: list[str]) -> Any:
    return CliRunner().invoke(build_cli(), args, catch_exceptions=False)


def _dry_run(*extra: str) -> CustomJob:
    result = _run([*VERTEX, "--staging", "gs://geocolor-data/vertex", "--dry-run", *extra])
    assert result.exit_code == 0, result.output
    return CustomJob.from_json(result.output)


def test_dry_run_prints_a_custom_job_the_library_parses_back(tmp_path: Path) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 3\n")
    job = _dry_run("--config", str(config), "--gpu", "nvidia-l4", "--", "--epochs", "5")
    pool = job.job_spec.worker_pool_specs[0]
    assert job.display_name == "geocolor-train-20261205-120000"
    assert pool.replica_count == 1
    assert pool.machine_spec.machine_type == "g2-standard-8"
    assert pool.machine_spec.accelerator_type == AcceleratorType.NVIDIA_L4
    assert pool.machine_spec.accelerator_count == 1
    assert pool.container_spec.image_uri == "europe-docker.pkg.dev/demo/geocolor/train:abc"
    assert list(pool.container_spec.command) == []  # the image's geocolor entrypoint
    staged = "gs://geocolor-data/vertex/geocolor-train-20261205-120000"
    assert list(pool.container_spec.args) == [
        *("train", STORE, "--config", f"{staged}/train.yaml", "--epochs", "5")
    ]
    env = {variable.name: variable.value for variable in pool.container_spec.env}
    assert env == {
        "MLFLOW_TRACKING_URI": "http://10.0.0.5:5000",
        "GEOCOLOR_MLFLOW_SIGN_IN_SECRET": SECRET_NAME,
    }
    assert job.job_spec.service_account == "geocolor-vertex@demo.iam.gserviceaccount.com"
    assert job.job_spec.network == "projects/123/global/networks/geocolor"
    assert job.job_spec.base_output_directory.output_uri_prefix == staged
    assert job.job_spec.scheduling.timeout.total_seconds() == 24 * 3600
    assert not job.job_spec.scheduling.restart_job_on_worker_restart


def test_several_gpus_train_under_torchrun() -> None:
    job = _dry_run("--gpu", "nvidia-a100-80gb:4", "--max-run-duration", "90m")
    pool = job.job_spec.worker_pool_specs[0]
    assert pool.machine_spec.accelerator_type == AcceleratorType.NVIDIA_A100_80GB
    assert pool.machine_spec.accelerator_count == 4
    assert list(pool.container_spec.command) == ["torchrun"]
    assert list(pool.container_spec.args)[:4] == [
        *("--nproc-per-node=4", "-m", "geocolor.cli", "train")
    ]
    assert job.job_spec.scheduling.timeout.total_seconds() == 90 * 60


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--staging", "gs://b/v", "--gpu", "nvidia-tesla-k9000"], "Vertex AI offers nvidia-"),
        (["--staging", "gs://b/v", "--max-run-duration", "soon"], "expected e.g. 90m"),
        (["--staging", "/tmp/v"], "--staging /tmp/v: a Vertex AI job"),
        ([], "--platform vertex needs --staging"),
    ],
)
def test_bad_vertex_options_are_usage_errors(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*VERTEX, *extra, "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


def test_submission_uploads_the_config_and_creates_the_job(
    apis: FakeGoogleApis, gcs_bucket: str, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("epochs: 3\n")
    staging = f"{gcs_bucket}/vertex"
    result = _run(
        [*VERTEX, "--staging", staging, "--config", str(config), "--vertex-endpoint", apis.base_url]
    )
    assert result.exit_code == 0, result.output
    assert apis.paths == ["/v1/projects/demo/locations/europe-west4/customJobs"]
    sent = CustomJob.from_json(json.dumps(apis.jobs[0]))
    args = list(sent.job_spec.worker_pool_specs[0].container_spec.args)
    config_uri = args[args.index("--config") + 1]
    with fsspec.open(config_uri, "r") as handle:
        assert handle.read() == "epochs: 3\n"
    assert "projects/demo/locations/europe-west4/customJobs/42 submitted" in result.output


def test_a_refused_submission_is_one_line(
    apis: FakeGoogleApis, capsys: pytest.CaptureFixture[str]
) -> None:
    apis.refuse = True
    assert main([*VERTEX, "--staging", "gs://b/v", "--vertex-endpoint", apis.base_url]) == 1
    error = capsys.readouterr().err
    assert "Vertex AI refused the job geocolor-train-20261205-120000" in error
    assert "Permission denied" in error
    assert len(error.strip().splitlines()) == 1


def test_the_job_signs_in_to_mlflow_with_the_secret(apis: FakeGoogleApis) -> None:
    apis.secrets[SECRET_NAME] = (
        "[mlflow]\nmlflow_tracking_username = admin\nmlflow_tracking_password = s3cret\n"
    )
    settings = {
        "GEOCOLOR_MLFLOW_SIGN_IN_SECRET": SECRET_NAME,
        "GEOCOLOR_SECRET_MANAGER_ENDPOINT": apis.base_url,
    }
    env = dict(settings)
    sign_in_to_mlflow_from_secret(env)
    assert env["MLFLOW_TRACKING_USERNAME"] == "admin"
    assert env["MLFLOW_TRACKING_PASSWORD"] == "s3cret"
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    # credentials the user set win; a secret that is no credentials file is named
    explicit = {**env, "MLFLOW_TRACKING_USERNAME": "me", "MLFLOW_TRACKING_PASSWORD": "mine"}
    sign_in_to_mlflow_from_secret(explicit)
    assert explicit["MLFLOW_TRACKING_PASSWORD"] == "mine"
    apis.secrets[SECRET_NAME] = "password: s3cret\n"
    with pytest.raises(GeocolorError, match="not an MLflow credentials file") as error:
        sign_in_to_mlflow_from_secret(dict(settings))
    assert "s3cret" not in str(error.value)


TUNE = [
    *("cloud", "tune", STORE, "--study", "lr-search", "--workers", "2", "--trials", "3"),
    *("--storage-secret", "projects/demo/secrets/geocolor-optuna-storage"),
    *VERTEX[VERTEX.index("--project") :],
]


def test_cloud_tune_submits_one_job_per_worker_sharing_the_study(
    apis: FakeGoogleApis, gcs_bucket: str
) -> None:
    staging = f"{gcs_bucket}/vertex"
    dry = _run([*TUNE, "--staging", staging, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    printed = [CustomJob.from_json(json.dumps(job)) for job in json.loads(dry.output)]
    result = _run([*TUNE, "--staging", staging, "--vertex-endpoint", apis.base_url])
    assert result.exit_code == 0, result.output
    sent = [CustomJob.from_json(json.dumps(job)) for job in apis.jobs]
    assert [job.display_name for job in sent] == [job.display_name for job in printed]
    assert len(sent) == 2
    space_uri = f"{staging}/geocolor-train-20261205-120000/tune.yaml"
    for seed, job in enumerate(sent):
        container = job.job_spec.worker_pool_specs[0].container_spec
        assert list(container.args) == [
            *("tune", STORE, "--study", "lr-search", "--space", space_uri),
            *("--trials", "3", "--seed", str(seed)),
        ]
        env = {variable.name: variable.value for variable in container.env}
        assert env["GEOCOLOR_OPTUNA_STORAGE_SECRET"] == (
            "projects/demo/secrets/geocolor-optuna-storage"
        )
    with fsspec.open(space_uri, "r") as handle:
        assert "lr:" in handle.read()


def test_a_tune_worker_gets_one_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    args = [*TUNE, "--staging", "gs://b/v", "--gpu", "nvidia-l4:2", "--dry-run"]
    assert main(args) == 2
    assert "ask for more --workers instead" in capsys.readouterr().err


def test_a_tune_worker_reads_the_storage_url_from_its_secret(
    apis: FakeGoogleApis, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql://optuna:pw@10.1.0.3:5432/optuna?sslmode=require"
    apis.secrets["projects/demo/secrets/geocolor-optuna-storage"] = url + "\n"
    monkeypatch.setenv("GEOCOLOR_SECRET_MANAGER_ENDPOINT", apis.base_url)
    monkeypatch.setenv(
        "GEOCOLOR_OPTUNA_STORAGE_SECRET", "projects/demo/secrets/geocolor-optuna-storage"
    )
    assert storage_from_secret() == url
    monkeypatch.delenv("GEOCOLOR_OPTUNA_STORAGE_SECRET")
    assert storage_from_secret() is None
