"""The ``geocolor`` command line.

Core commands are defined in their own modules of :mod:`geocolor.cli`, each imported only when
its command runs (:mod:`geocolor.cli.lazy`); plugins add theirs through
``geocolor_register_commands`` when a listing or a name that is not a core command needs them.
Every :class:`~geocolor.errors.GeocolorError` becomes one line on stderr and an exit code; a
traceback only with ``--debug``. SIGTERM and SIGHUP end a command through its cleanup
(:mod:`geocolor.cli.signals`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import click

from geocolor import __version__
from geocolor.cli.lazy import LazyCommand, LazyGroup
from geocolor.cli.signals import Terminated, signals_as_exceptions
from geocolor.errors import FAILURE, USAGE, GeocolorError
from geocolor.io.secrets import sign_in_to_mlflow_from_secret
from geocolor.plugins.manager import BUILTIN, get_plugins
from geocolor.progress import is_quiet, set_quiet

# Core commands by name: where each is defined and the line ``--help`` shows for it, so
# that neither ``--help`` nor ``--version`` imports a command module (tests keep the
# lines equal to the commands' own).
CORE_COMMANDS = {
    "app": LazyCommand(
        "geocolor.cli.app:app_command",
        "Start the map app: pick a scene, draw an AOI, colorize it with a registered model.",
    ),
    "cloud": LazyCommand(
        "geocolor.cli.cloud:cloud_group",
        "Run jobs on Google Cloud with the infrastructure from infra/.",
    ),
    "colorize": LazyCommand(
        "geocolor.cli.colorize:colorize_command",
        "Colorize SCENE (GRD SAFE or zip, sigma0 dB GeoTIFF, or a reader plugin's) into a COG.",
    ),
    "demo-data": LazyCommand(
        "geocolor.cli.demo:demo_data_command",
        "Write a synthetic Sentinel-1 GRD (VV+VH) and Sentinel-2 L2A pair and an AOI over them.",
    ),
    "evaluate": LazyCommand(
        "geocolor.cli.train:evaluate_command",
        "Score MODEL_URI on a split of STORE and log the scores as an MLflow run.",
    ),
    "fetch": LazyCommand(
        "geocolor.cli.acquire:fetch_command",
        "Download scenes as GeoTIFFs on one grid, ready for ``prepare`` and ``colorize``.",
    ),
    "import": LazyCommand(
        "geocolor.cli.dataset_import:import_command",
        "Import DATASET (bigearthnet, sen12ms, sen1-2, sen1floods11, a plugin's) into a store.",
    ),
    "models": LazyCommand(
        "geocolor.cli.train:models_group", "Registered models: list versions, move aliases."
    ),
    "monitor": LazyCommand(
        "geocolor.cli.monitor:monitor_command",
        "List a model's recent colorizations: time, scene, drift verdict and scores.",
    ),
    "prepare": LazyCommand(
        "geocolor.cli.prepare:prepare_command",
        "Pair Sentinel-1 and Sentinel-2 scenes and write co-registered training tiles.",
    ),
    "process-s1": LazyCommand(
        "geocolor.cli.s1:process_s1_command",
        "Calibrate, denoise, speckle-filter and georeference a Sentinel-1 GRD product.",
    ),
    "search": LazyCommand(
        "geocolor.cli.acquire:search_command",
        "Find Sentinel-1 GRD (IW, VV+VH) and Sentinel-2 L2A scenes and suggest pairs.",
    ),
    "store": LazyCommand(
        "geocolor.cli.store:store_group", "Inspect and repair a prepared training store."
    ),
    "train": LazyCommand(
        "geocolor.cli.train:train_command",
        "Train a model on a prepared STORE, log it to MLflow and register it.",
    ),
    "tune": LazyCommand(
        "geocolor.cli.tune:tune_command",
        "Search hyper-parameters of a backend on STORE; register the best trial's model.",
    ),
}


def add_plugin_commands(group: click.Group) -> None:
    """Load the plugins and let each add its commands to ``group``."""
    get_plugins().register_commands(group)


log = logging.getLogger("geocolor")


@click.group(
    cls=LazyGroup,
    lazy_commands=CORE_COMMANDS,
    add_more_commands=add_plugin_commands,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    else:
        # its retry warnings repeat what the one-line error then says
        logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.setLevel(level)
    if quiet:
        # libraries that log or draw progress on their own
        logging.getLogger("mlflow").setLevel(logging.ERROR)
        logging.getLogger("distributed").setLevel(logging.ERROR)
        os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    sign_in_to_mlflow_from_secret(os.environ)


@cli.command("plugins")
@click.pass_context
def plugins_command(ctx: click.Context) -> None:
    """List registered plugins: kind, name and origin."""
    root = ctx.find_root()
    if isinstance(root.command, click.Group):
        root.command.list_commands(root)  # listing the commands lets plugins add theirs
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


def build_cli() -> LazyGroup:
    """A fresh command group: the core commands, and the plugins' once they are needed.

    ``--version`` and a core command's run load no plugin for the CLI's sake; ``--help``,
    ``plugins`` and a name that is not a core command do.
    """
    return cli.fresh_copy()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and turn errors into one-line messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    quiet = is_quiet()
    try:
        return _run(args)
    finally:
        set_quiet(quiet)  # a run inside a Python process leaves the library as it found it


def _run(args: list[str]) -> int:
    debug = "--debug" in args
    try:
        with signals_as_exceptions():
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
    except Terminated as stopped:
        click.echo(f"geocolor: terminated by {stopped}", err=True)
        return stopped.exit_code
    except Exception as exc:
        if debug:
            raise
        click.echo(
            f"geocolor: internal error: {type(exc).__name__}: {exc} (rerun with --debug)",
            err=True,
        )
        return FAILURE
    return result if isinstance(result, int) else 0
