"""The CLI starts light: a command's module is imported only when that command is used."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from geocolor.cli.main import CORE_COMMANDS, build_cli, main

COMMAND_MODULES = {entry.target.partition(":")[0] for entry in CORE_COMMANDS.values()}
HEAVY = {"torch", "mlflow", "sentinelhub", "streamlit"}
# what the plugins import only when a filter, reader or backend runs
PLUGIN_HEAVY = {"dask", "numba", "rasterio", "scipy", "xarray", "zarr"}


def modules_after(args: list[str]) -> tuple[str, set[str]]:
    """Run the CLI with ``args`` in a fresh interpreter: its output and the modules it imported."""
    code = (
        "import contextlib, io, json, sys\n"
        "from geocolor.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main({args!r})\n"
        "print(json.dumps([code, out.getvalue(), sorted(sys.modules)]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    exit_code, output, modules = json.loads(done.stdout)
    assert exit_code == 0, done.stderr
    return output, set(modules)


def roots(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


def test_table_lines_are_the_commands_own() -> None:
    for name, entry in CORE_COMMANDS.items():
        command = entry.load()
        assert command.name == name
        assert command.get_short_help_str(limit=10**6) == entry.short_help


def test_version_imports_no_command_and_no_plugin() -> None:
    output, modules = modules_after(["--version"])
    assert "version" in output
    assert not modules & COMMAND_MODULES
    assert not roots(modules) & (HEAVY | {"dask", "rasterio", "geocolor_speckle"})


def test_help_lists_every_command_without_importing_one() -> None:
    output, modules = modules_after(["--help"])
    listed = {line.split()[0] for line in output.split("Commands:")[1].splitlines() if line}
    assert listed == {*CORE_COMMANDS, "plugins"}
    assert not modules & COMMAND_MODULES
    assert not roots(modules) & (HEAVY | PLUGIN_HEAVY)


def test_plugins_lists_every_plugin_without_a_heavy_import() -> None:
    output, modules = modules_after(["plugins"])
    rows = [line.split() for line in output.splitlines()]
    assert ["speckle", "filter", "lee", "built-in"] in rows
    assert ["reader", "grd-safe", "built-in"] in rows
    assert not roots(modules) & (HEAVY | PLUGIN_HEAVY)


def test_help_reads_as_with_every_command_imported(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    lazy = capsys.readouterr().out
    group = build_cli()
    for name in CORE_COMMANDS:
        group.get_command(click.Context(group), name)
    assert set(CORE_COMMANDS) <= set(group.commands)
    group.main(["--help"], prog_name="geocolor", standalone_mode=False)
    assert capsys.readouterr().out == lazy


@pytest.mark.parametrize("name", ["models", "demo-data"])
def test_a_command_imports_its_own_module_only(name: str) -> None:
    output, modules = modules_after([name, "--help"])
    assert f"Usage: geocolor {name}" in output
    own = CORE_COMMANDS[name].target.partition(":")[0]
    assert modules & COMMAND_MODULES == {own}
