from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.plugins.manager import AUTOLOAD_ENV, load_plugins
from tests.plugin_dist import install_plugin

pytestmark = pytest.mark.usefixtures("fresh_plugins")

GOOD_PLUGIN = """
    import click
    from geocolor.plugins.hookspecs import hookimpl

    class EchoBackend:
        name = "echo"

    @hookimpl
    def geocolor_register_backends(registry):
        registry.register("echo", EchoBackend())

    @click.command("hello")
    @click.argument("who")
    def hello(who):
        click.echo(f"hello {who} from a plugin")

    @hookimpl
    def geocolor_register_commands(cli):
        cli.add_command(hello)
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_builtin_plugins_are_loaded_through_entry_points() -> None:
    plugins = load_plugins(autoload=False)
    assert plugins.origins
    assert set(plugins.origins.values()) == {"built-in"}
    assert len(plugins.speckle_filters) >= 7


def test_third_party_plugin_adds_backend_and_command(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(plugin_site, "geocolor-example", "geocolor_example", GOOD_PLUGIN)
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 0
    assert any(
        line.split() == ["model", "backend", "echo", "geocolor-example", "1.0"]
        for line in out.splitlines()
    ), out
    assert any(line.split()[:2] == ["command", "hello"] for line in out.splitlines()), out
    assert "built-in" in out

    code, out, _ = run_cli(["hello", "world"], capsys)
    assert (code, out) == (0, "hello world from a plugin\n")


def test_autoload_can_be_disabled(
    plugin_site: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(plugin_site, "geocolor-example", "geocolor_example", GOOD_PLUGIN)
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 0
    assert "echo" not in out and "hello" not in out
    assert "built-in" in out


def test_plugin_raising_on_import_is_one_line_error(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(
        plugin_site, "geocolor-broken", "geocolor_broken", "raise RuntimeError('boom')\n"
    )
    code, out, err = run_cli(["plugins"], capsys)
    assert code == 1
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "geocolor_broken" in err and "geocolor-broken 1.0" in err and "boom" in err
    assert "Traceback" not in err


def test_duplicate_name_is_one_line_error_naming_the_plugin(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(plugin_site, "geocolor-example", "geocolor_example", GOOD_PLUGIN)
    install_plugin(plugin_site, "geocolor-copycat", "geocolor_copycat", GOOD_PLUGIN)
    code, _, err = run_cli(["plugins"], capsys)
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "geocolor_copycat" in err and "'echo'" in err and "geocolor_example" in err


def test_duplicate_of_builtin_name_blames_the_newcomer(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        from geocolor.plugins.hookspecs import hookimpl

        @hookimpl
        def geocolor_register_speckle_filters(registry):
            registry.register("lee", object())
    """
    install_plugin(plugin_site, "geocolor-lee", "geocolor_lee", source)
    code, _, err = run_cli(["plugins"], capsys)
    assert code == 1
    assert "plugin 'geocolor_lee' registers speckle filter 'lee'" in err


def test_misspelt_hook_is_caught(plugin_site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = """
        from geocolor.plugins.hookspecs import hookimpl

        @hookimpl
        def geocolor_register_backend(registry):
            pass
    """
    install_plugin(plugin_site, "geocolor-typo", "geocolor_typo", source)
    code, _, err = run_cli(["plugins"], capsys)
    assert code == 1
    assert "geocolor_typo" in err and "geocolor_register_backend" in err
    assert len(err.strip().splitlines()) == 1


def test_console_script_with_installed_plugin(tmp_path: Path) -> None:
    plugin_site = tmp_path / "plugin_site"
    plugin_site.mkdir()
    install_plugin(plugin_site, "geocolor-example", "geocolor_example", GOOD_PLUGIN)
    env = {**os.environ, "PYTHONPATH": str(plugin_site)}
    env.pop(AUTOLOAD_ENV, None)
    geocolor = Path(sys.executable).with_name("geocolor")
    result = subprocess.run(
        [str(geocolor), "hello", "there"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello there from a plugin\n"


def test_plugin_command_is_listed_in_help(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    install_plugin(plugin_site, "geocolor-example", "geocolor_example", GOOD_PLUGIN)
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    assert any(line.split()[:1] == ["hello"] for line in out.splitlines()), out


def test_version_needs_no_plugin(plugin_site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    install_plugin(
        plugin_site, "geocolor-broken", "geocolor_broken", "raise RuntimeError('boom')\n"
    )
    code, out, err = run_cli(["--version"], capsys)
    assert (code, err) == (0, "")
    assert "version" in out


def test_plugin_command_cannot_take_a_core_name(
    plugin_site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = """
        import click
        from geocolor.plugins.hookspecs import hookimpl

        @click.command("colorize")
        def impostor():
            pass

        @hookimpl
        def geocolor_register_commands(cli):
            cli.add_command(impostor)
    """
    install_plugin(plugin_site, "geocolor-impostor", "geocolor_impostor", source)
    code, out, err = run_cli(["plugins"], capsys)
    assert (code, out) == (1, "")
    assert len(err.strip().splitlines()) == 1
    assert "geocolor_impostor" in err and "'colorize' is already a core command" in err
