"""``geocolor tune``: search a backend's hyper-parameters with Optuna, tracked in MLflow."""

from __future__ import annotations

import os

import click
import mlflow

from geocolor.config import load_config
from geocolor.io.outputs import check_output
from geocolor.io.secrets import ENV_OPTUNA_STORAGE_SECRET, read_secret_payload
from geocolor.models.model_registry import check_alias
from geocolor.models.tracking import check_reachable
from geocolor.plugins.manager import get_plugins
from geocolor.train.loop import backend_config
from geocolor.train.run_config import TrainConfig
from geocolor.train.tune import Study, default_storage, run_study
from geocolor.train.tune_space import DEFAULT_SPACE, read_space


@click.command("tune", context_settings={"show_default": True})
@click.argument("store")
@click.option("--config", "config_path", default=None, help="Pipeline YAML (pipelines/train.yaml).")
@click.option("--backend", default=None, help="Model backend by registered name (cyclegan).")
@click.option("--space", "space_path", default=DEFAULT_SPACE, help="Search-space YAML.")
@click.option(
    "--trials", type=click.IntRange(min=1), default=None, help="Trials this process runs."
)
@click.option("--timeout", type=click.FloatRange(min=0), default=None, help="Seconds to search.")
@click.option("--study", "study_name", default="geocolor", help="Study name, to resume or share.")
@click.option(
    "--storage",
    envvar="GEOCOLOR_OPTUNA_STORAGE",
    show_envvar=True,
    default=None,
    help="Optuna storage URL shared by workers (default: optuna.db beside MLflow's sqlite "
    f"db, or the URL in the secret named by {ENV_OPTUNA_STORAGE_SECRET}).",
)
@click.option("--epochs", type=int, default=None, help="Epochs per trial (the config's).")
@click.option("--seed", type=int, default=None, help="Sampler seed (one per worker).")
@click.option("--promote-if-better", default=None, help="Move ALIAS to the best if it is better.")
def tune_command(
    store: str,
    config_path: str | None,
    backend: str | None,
    space_path: str,
    trials: int | None,
    timeout: float | None,
    study_name: str,
    storage: str | None,
    epochs: int | None,
    seed: int | None,
    promote_if_better: str | None,
) -> None:
    """Search hyper-parameters of a backend on STORE; register the best trial's model.

    Every trial is an MLflow child run of the study's parent run and is pruned after an
    epoch whose validation score trails the others'. Ctrl-C and a rerun resume the
    study; workers given one --storage share it.
    """
    if trials is None and timeout is None:
        raise click.UsageError("give --trials, --timeout or both")
    config = load_config(TrainConfig, config_path, {"backend": backend, "epochs": epochs})
    chosen = get_plugins().backends.get(config.backend)
    backend_config(chosen, config.backend_options)
    space = read_space(space_path, chosen.config_type)
    check_output(
        config.checkpoint_dir, [store, config_path, space_path], "folder", "--checkpoint-dir"
    )
    if promote_if_better:
        check_alias(promote_if_better)
    check_reachable()
    study = Study(
        store=store,
        base=config,
        space=space,
        name=study_name,
        storage=storage or storage_from_secret() or default_storage(mlflow.get_tracking_uri()),
        trials=trials,
        timeout=timeout,
        seed=seed,
        promote_if_better=promote_if_better,
    )
    result = run_study(study)
    click.echo(
        f"study {study_name}: {result.completed} complete, {result.pruned} pruned; "
        f"best trial {result.best_trial} ({result.best_value:.4f})"
    )
    for name, value in sorted(result.best_params.items()):
        click.echo(f"  {name} = {value}")
    if promote_if_better:
        verdict = "moved to" if result.promoted else "not moved to"
        click.echo(f"alias {promote_if_better} {verdict} version {result.model_version}")
    click.echo(f"models:/{config.model_name}/{result.model_version}")


def storage_from_secret() -> str | None:
    """The storage URL in the secret a cloud tune worker is given, if any."""
    name = os.environ.get(ENV_OPTUNA_STORAGE_SECRET)
    if not name:
        return None
    return read_secret_payload(name, os.environ, ENV_OPTUNA_STORAGE_SECRET).strip()
