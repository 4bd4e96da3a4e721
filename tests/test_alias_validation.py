"""An alias MLflow would refuse is a usage error (exit 2), found before MLflow is asked.

The tracking URI points at a port nothing listens on: had a command asked the server,
it would have failed with exit 1 instead.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.errors import UsageError
from geocolor.models.model_registry import check_alias

BAD_ALIASES = ["latest", "Latest", "v1", "V42", "", "two words", "a/b", "dot.ted", "x" * 256]


@pytest.fixture(autouse=True)
def dead_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("alias", BAD_ALIASES)
def test_promote_refuses_bad_alias(alias: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["models", "promote", "geocolor", "1", "--alias", alias])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and repr(alias) in err


def test_promote_refuses_a_version_that_is_not_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "promote", "geocolor", "one", "--alias", "production"]) == 2
    assert "'one' is not a version number" in capsys.readouterr().err


def test_train_refuses_bad_promotion_alias_before_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", str(tmp_path / "store.zarr"), "--promote-if-better", "latest"]
    assert main([*args, "--checkpoint-dir", str(tmp_path / "ck")]) == 2
    assert "reserved" in capsys.readouterr().err


@pytest.mark.parametrize("alias", ["production", "prod-candidate", "v1beta", "latest_2", "x" * 255])
def test_valid_aliases_pass(alias: str) -> None:
    check_alias(alias)


def test_reserved_message_says_why() -> None:
    with pytest.raises(UsageError, match="reserved by MLflow"):
        check_alias("v7")
