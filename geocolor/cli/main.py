"""The ``geocolor`` command line.

Core commands are defined here or in their own modules of :mod:`geocolor.cli`; plugins add theirs
through ``geocolor_register_commands``. Every :class:`~geocolor.errors.GeocolorError`
becomes one line on stderr and an exit code; a traceback only with ``--debug``.
"""

from __future__ import annotations

import copy
import logging
import os
import sys
from collections.abc import Sequence

import click

from geocolor import __version__
from geocolor.cli.acquire import fetch_command, search_command
from geocolor.cli.app import app_command
from geocolor.cli.cloud import cloud_group
from geocolor.cli.colorize import colorize_command
from geocolor.cli.demo import demo_data_command
from geocolor.cli.prepare import prepare_command
from geocolor.cli.s1 import process_s1_command
from geocolor.cli.train import evaluate_command, models_group, train_command
from geocolor.errors import FAILURE, USAGE, GeocolorError
from geocolor.plugins.manager import BUILTIN, get_plugins
from geocolor.progress import set_quiet

log = logging.getLogger("geocolor")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="geocolor")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug logs).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors: no progress bars or logs.")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(verbose: int, quiet: bool, debug: bool) -> None:
    """geocolor: turn Sentinel-1 radar scenes into optical-looking imagery."""
    del debug  # read before click runs, in main()
    set_quiet(quiet)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO)[min(verbose, 1)]
    if verbose > 1:
        level = logging.DEBUG
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.setLevel(level)
    if quiet:
        # libraries that log or draw progress on their own
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("distributed").setLevel(logging.ERROR)
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"


@cli.command("plugins")
def plugins_command() -> None:
    """List registered plugins: kind, name and origin."""
    plugins = get_plugins()
    rows: list[tuple[str, str, str]] = []
    for registry in plugins.registries().values():
        for entry in registry.entries():
            rows.append((registry.kind, entry.name, plugins.origins.get(entry.plugin, BUILTIN)))
    for command, plugin in sorted(plugins.command_origins.items()):
        rows.append(("command", command, plugins.origins.get(plugin, BUILTIN)))
    width = max((len(kind) for kind, _, _ in rows), default=4)
    name_width = max((len(name) for _, name, _ in rows), default=4)
    for kind, name, origin in rows:
        click.echo(f"{kind:<{width}}  {name:<{name_width}}  {origin}")


cli.add_command(app_command)
cli.add_command(cloud_group)
cli.add_command(colorize_command)
cli.add_command(demo_data_command)
cli.add_command(evaluate_command)
cli.add_command(fetch_command)
cli.add_command(models_group)
cli.add_command(prepare_command)
cli.add_command(process_s1_command)
cli.add_command(search_command)
cli.add_command(train_command)


def build_cli() -> click.Group:
    """A fresh command group: the core commands plus every plugin's."""
    group = copy.copy(cli)
    group.commands = dict(cli.commands)
    get_plugins().register_commands(group)
    return group


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn errors into one-line messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        result = build_cli().main(args=args, prog_name="geocolor", standalone_mode=False)
    except GeocolorError as exc:
        if debug:
            raise
        click.echo(f"geocolor: error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("geocolor: aborted", err=True)
        return FAILURE
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else USAGE
    except KeyboardInterrupt:
        click.echo("geocolor: interrupted", err=True)
        return 130
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"geocolor: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            err=True,
        )
        return FAILURE
    return result if isinstance(result, int) else 0
