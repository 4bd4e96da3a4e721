"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from geocolor.plugins.manager import AUTOLOAD_ENV, get_plugins

pytest_plugins = ["tests.gcs_emulator"]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real Sentinel samples beside the checkout; skip when a user has none."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED_DATA} is missing in CI")
        pytest.skip(f"real Sentinel samples not found at {SHARED_DATA}")
    return SHARED_DATA


def require_tool(name: str) -> str:
    """The path of system tool ``name`` (a command or an absolute path).

    Missing, the test skips on a user's machine but fails in CI, which installs it.
    """
    found = name if Path(name).is_absolute() and os.access(name, os.X_OK) else shutil.which(name)
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is missing in CI")
    pytest.skip(f"{name} is not installed")


@pytest.fixture(autouse=True)
def _tracking_uri_from_environment() -> Iterator[None]:
    """After each test, MLflow takes its tracking URI from the environment again.

    ``mlflow.set_tracking_uri`` is process-wide: without this a test's sqlite store
    would capture the next test's runs, whatever that test's MLFLOW_TRACKING_URI says.
    """
    yield
    if "mlflow" in sys.modules:
        sys.modules["mlflow"].set_tracking_uri(None)


@pytest.fixture
def fresh_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Plugins autoloaded anew for the test, and forgotten after it."""
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    get_plugins.cache_clear()
    yield
    get_plugins.cache_clear()


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> Path:
    """An empty site-packages on ``sys.path`` for :func:`tests.plugin_dist.install_plugin`."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


@pytest.fixture
def tracking(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A fresh MLflow SQLite database in ``tmp_path``, which becomes the working folder."""
    from tests.test_train import use_fresh_tracking

    return use_fresh_tracking(tmp_path, tmp_path_factory, monkeypatch)


@pytest.fixture
def linear_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The training tests' linear backend, installed as a third-party plugin."""
    from tests.test_train import install_linear_backend

    yield install_linear_backend(tmp_path, monkeypatch)
    get_plugins.cache_clear()
