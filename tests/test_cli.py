from __future__ import annotations

import click
import pytest

from geocolor import __version__
from geocolor.cli.main import cli, main
from geocolor.errors import GeocolorError, UsageError
from geocolor.progress import is_quiet, note, progress, set_quiet


@pytest.fixture(autouse=True)
def restore_quiet() -> None:
    set_quiet(False)


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "Usage: geocolor" in out and "plugins" in out
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


@pytest.fixture
def failing_command() -> object:
    @cli.command("fail-for-test")
    @click.option("--usage", is_flag=True)
    @click.option("--bug", is_flag=True)
    def fail(usage: bool, bug: bool) -> None:
        if bug:
            raise ZeroDivisionError("division by zero")
        if usage:
            raise UsageError("pipelines/x.yaml: unknown key 'foo'")
        raise GeocolorError("scene.zip: not a Sentinel-1 SAFE product")

    yield fail
    del cli.commands["fail-for-test"]


@pytest.mark.usefixtures("failing_command")
def test_errors_become_one_line_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fail-for-test"]) == 1
    err = capsys.readouterr().err
    assert err == "geocolor: error: scene.zip: not a Sentinel-1 SAFE product\n"
    assert main(["fail-for-test", "--usage"]) == 2
    assert "unknown key 'foo'" in capsys.readouterr().err
    assert main(["fail-for-test", "--bug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--debug" in err and len(err.splitlines()) == 1


@pytest.mark.usefixtures("failing_command")
def test_debug_shows_traceback() -> None:
    with pytest.raises(GeocolorError):
        main(["--debug", "fail-for-test"])


def test_quiet_silences_progress(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["--quiet", "plugins"], standalone_mode=False)  # the group's option, as in a run
    try:
        assert is_quiet()
        assert list(progress(range(3), desc="tiles")) == [0, 1, 2]
        assert capsys.readouterr().err == ""
    finally:
        set_quiet(False)


def test_a_quiet_run_leaves_the_library_as_it_found_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "plugins"]) == 0
    assert not is_quiet()
    note("DEM tile absent")
    assert capsys.readouterr().err == "DEM tile absent\n"
