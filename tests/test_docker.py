"""The images and the local compose stack, checked without a Docker daemon."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))
LOCKS = sorted(DOCKER.glob("requirements-*.lock"))
HADOLINT = Path(sys.executable).with_name("hadolint")
# name:tag@sha256:digest: the digest is what is pulled, the tag says what it was
DIGEST_PINNED = re.compile(r"[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}")
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|CREDENTIAL|API_KEY", re.IGNORECASE)
PASSWORD_IN_URI = re.compile(r"://[^/\s@:]+:[^/\s@]+@")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text(encoding="utf-8"))
    pairs = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def pinned(requirement: str) -> str:
    """The version that setup.cfg pins ``requirement`` to (``torch==2.14.1``)."""
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    for line in setup["options"]["install_requires"].split():
        name, _, version = line.partition("==")
        if name == requirement:
            return version
    raise AssertionError(f"setup.cfg does not pin {requirement}")


def build_args(dockerfile: Path) -> dict[str, str]:
    return dict(arg.split("=", 1) for kind, arg in instructions(dockerfile) if kind == "ARG")


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_hadolint_finds_nothing(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold=style", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_expected_images_exist() -> None:
    assert [path.name for path in DOCKERFILES] == [
        "Dockerfile.app",
        "Dockerfile.mlflow",
        "Dockerfile.train",
    ]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_images_run_as_a_numeric_non_root_user(dockerfile: Path) -> None:
    users = [rest for kind, rest in instructions(dockerfile) if kind == "USER"]
    assert users, "no USER: the image would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000


def lock_pins(lock: Path) -> dict[str, tuple[str, list[str]]]:
    """{package: (version, hashes)} of a pip lock file, continuation lines joined."""
    text = re.sub(r"\\\n", " ", lock.read_text(encoding="utf-8"))
    pins = {}
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            name, _, version = words[0].partition("==")
            hashes = [word.removeprefix("--hash=") for word in words[1:]]
            assert all(word.startswith("--hash=") for word in words[1:]), line
            pins[name.lower()] = (version, hashes)
    return pins


@pytest.mark.parametrize("lock", LOCKS, ids=lambda path: path.name)
def test_lock_files_pin_every_package_with_its_hashes(lock: Path) -> None:
    pins = lock_pins(lock)
    assert pins
    for name, (version, hashes) in pins.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), f"{name} is not pinned with =="
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", digest) for digest in hashes), name


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_images_install_packages_only_from_lock_files_with_hashes(dockerfile: Path) -> None:
    installs = [
        command.strip()
        for kind, rest in instructions(dockerfile)
        if kind == "RUN"
        for command in rest.split("&&")
        if "pip install" in command
    ]
    assert installs
    copied = {
        Path(word).name
        for kind, rest in instructions(dockerfile)
        if kind == "COPY"
        for word in rest.split()
        if word.endswith(".lock")
    }
    for command in installs:
        words = command.split()
        assert "--no-deps" in words, command
        if words[-1] == ".":  # geocolor itself, from the sources, its requirements locked
            assert "--no-build-isolation" in words, "the build backend must come from the lock"
            continue
        assert "--require-hashes" in words, command
        locks = [Path(words[i + 1]).name for i, word in enumerate(words) if word == "-r"]
        assert locks and set(locks) <= copied, command
        assert all((DOCKER / name).is_file() for name in locks), command
    assert copied <= {path.name for path in LOCKS}


def test_images_install_the_torch_that_setup_cfg_pins() -> None:
    train = lock_pins(DOCKER / "requirements-train.lock")
    assert train["torch"][0] == pinned("torch")
    assert train["torchvision"][0] == pinned("torchvision")
    app = lock_pins(DOCKER / "requirements-app-torch.lock")
    assert app["torch"][0] == f"{pinned('torch')}+cpu", "the app runs the CPU build"
    assert "torch" not in lock_pins(DOCKER / "requirements-app.lock")


def test_the_app_image_may_leave_torchvision_out_as_no_module_imports_it() -> None:
    sources = [*(ROOT / "geocolor").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]
    assert sources
    for source in sources:
        assert not re.search(
            r"^\s*(import|from)\s+torchvision", source.read_text(encoding="utf-8"), re.M
        ), source


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: path.name)
def test_base_images_are_pinned_by_digest_with_the_tag_in_a_comment(dockerfile: Path) -> None:
    lines = dockerfile.read_text(encoding="utf-8").splitlines()
    bases = [(i, line.split()[1]) for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert bases
    for index, base in bases:
        assert DIGEST_PINNED.fullmatch(base), base
        assert lines[index - 1].startswith("# "), f"no comment above FROM {base}"


def test_training_base_image_matches_torchs_cuda() -> None:
    torch = pytest.importorskip("torch")
    if torch.__version__.split("+")[0] != pinned("torch") or torch.version.cuda is None:
        pytest.skip(f"this torch ({torch.__version__}) is not the pinned CUDA build")
    base = next(rest for kind, rest in instructions(DOCKER / "Dockerfile.train") if kind == "FROM")
    match = re.fullmatch(
        r"nvidia/cuda:(\d+\.\d+)\.\d+-(?:cudnn-)?runtime-ubuntu[\d.]+@sha256:[0-9a-f]{64}", base
    )
    assert match, base
    assert match[1] == torch.version.cuda


def test_training_image_runs_geocolor() -> None:
    steps = instructions(DOCKER / "Dockerfile.train")
    assert ("ENTRYPOINT", '["geocolor"]') in steps


def test_app_listens_on_cloud_runs_port_and_checks_streamlits_health() -> None:
    steps = instructions(DOCKER / "Dockerfile.app")
    single = dict(steps)
    assert "/_stcore/health" in single["HEALTHCHECK"]
    assert "os.environ['PORT']" in single["HEALTHCHECK"]
    assert single["CMD"] == '["sh", "-c", "exec geocolor app --port \\"${PORT}\\" --host 0.0.0.0"]'
    runs = " ".join(rest for kind, rest in steps if kind == "RUN")
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs, "CPU torch only"


def test_dockerignore_lets_in_exactly_what_the_images_copy() -> None:
    patterns = (ROOT / ".dockerignore").read_text(encoding="utf-8").split("\n")
    patterns = [line for line in patterns if line and not line.startswith("#")]
    assert patterns[0] == "*", "an allowlist: everything out, then the sources back in"
    allowed = {line[1:].rstrip("/") for line in patterns if line.startswith("!")}
    copied = set()
    for dockerfile in DOCKERFILES:
        for kind, rest in instructions(dockerfile):
            if kind == "COPY" and "--from=" not in rest:
                sources = [word for word in rest.split() if not word.startswith("--")][:-1]
                copied.update(source.rstrip("/") for source in sources)
    assert copied == allowed


def test_dependabot_keeps_images_actions_and_requirements_updatable() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    watched = {
        update["package-ecosystem"]: update.get("directories", [update.get("directory")])
        for update in config["updates"]
    }
    assert watched == {
        "docker": ["/docker"],
        "docker-compose": ["/docker"],
        "github-actions": ["/"],
        "pip": ["/", "/docker"],
    }


# --- docker/compose.yaml -------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def strings(node: Any) -> list[str]:
    """Every string anywhere in a parsed YAML tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in strings(key) + strings(value)]
    if isinstance(node, list):
        return [text for item in node for text in strings(item)]
    return []


def test_compose_images_are_pinned_by_digest(compose: dict[str, Any]) -> None:
    pulled = [s["image"] for s in compose["services"].values() if "build" not in s]
    assert pulled
    for image in pulled:
        assert DIGEST_PINNED.fullmatch(image), image


def test_every_service_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "app"}
    for name, service in services.items():
        test = service["healthcheck"]["test"]
        assert test[0] in {"CMD", "CMD-SHELL"}, name


def test_services_start_once_what_they_need_is_healthy(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["mlflow"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["app"]["depends_on"] == {"mlflow": {"condition": "service_healthy"}}


def test_mlflow_uses_postgres_and_serves_artifacts_from_a_volume(compose: dict[str, Any]) -> None:
    mlflow = compose["services"]["mlflow"]
    options = dict(arg.split("=", 1) for arg in mlflow["command"][1:])
    assert mlflow["command"][0] == "server"
    assert options["--backend-store-uri"].startswith("postgresql+psycopg2://mlflow@postgres:")
    destination = options["--artifacts-destination"]
    volumes = {mount.split(":")[1]: mount.split(":")[0] for mount in mlflow["volumes"]}
    assert volumes[destination] in compose["volumes"]
    assert "mlflow:5000" in options["--allowed-hosts"].split(",")


def test_app_points_at_the_mlflow_service(compose: dict[str, Any]) -> None:
    environment = compose["services"]["app"]["environment"]
    assert environment["GEOCOLOR_MLFLOW_URI"] == "http://mlflow:5000"
    port = environment["PORT"]
    assert f"127.0.0.1:{port}:{port}" in compose["services"]["app"]["ports"]


def test_no_secret_is_written_in_plain_text(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_KEY.search(key):
                assert key.endswith("_FILE") and value.startswith("/run/secrets/"), (name, key)
    for text in strings(compose):
        assert not PASSWORD_IN_URI.search(text), text
    for name, secret in compose["secrets"].items():
        assert set(secret) <= {"environment", "file"}, f"secret {name} is inline"
    for service in compose["services"].values():
        assert all(port.startswith("127.0.0.1:") for port in service.get("ports", []))
