"""An unreachable MLflow tracking server fails each command in seconds, naming the server.

The server is a port on 127.0.0.1 that nothing listens on. MLflow's own defaults
(120 s per request, 7 retries) used to keep ``models promote`` busy for about 250 s
before it said the version did not exist.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.models.tracking import HTTP_DEFAULTS, quick_tracking
from tests.scene_factory import write_scene

LIMIT_S = 15


@pytest.fixture
def dead_uri(monkeypatch: pytest.MonkeyPatch) -> str:
    """A tracking URI on a local port just freed, so connections are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for name in HTTP_DEFAULTS:
        monkeypatch.delenv(name, raising=False)
    return uri


def commands(tmp_path: Path) -> dict[str, list[str]]:
    scene = write_scene(tmp_path / "scene.tif", size=48)
    return {
        "promote": ["models", "promote", "geocolor", "1", "--alias", "production"],
        "list": ["models", "list"],
        "train": ["train", str(tmp_path / "store.zarr"), "--checkpoint-dir", str(tmp_path / "ck")],
        "colorize": [
            "colorize",
            str(scene),
            "--model",
            "models:/geocolor@production",
            "-o",
            str(tmp_path / "out.tif"),
        ],
    }


@pytest.mark.parametrize("command", ["promote", "list", "train", "colorize"])
def test_dead_server_fails_fast_naming_it(
    dead_uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    start = time.monotonic()
    code = main(["-q", *commands(tmp_path)[command]])
    elapsed = time.monotonic() - start

    err = capsys.readouterr().err
    assert code == 1, err
    assert elapsed < LIMIT_S
    assert err.count("\n") == 1 and dead_uri in err and "cannot be reached" in err
    assert "no version" not in err and "internal error" not in err
    assert not (tmp_path / "out.tif").exists()


def test_user_settings_win_and_defaults_do_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    with quick_tracking():
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "300"
        assert (
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
            == HTTP_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
        )
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
