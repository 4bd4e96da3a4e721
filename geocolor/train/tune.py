"""``geocolor tune``: hyper-parameter search with Optuna, every trial an MLflow child run.

Optuna's TPE sampler draws each trial's settings from the search space; a pruner stops
a trial after any epoch whose validation score trails the other trials' at that epoch.
The score is what ``colorize``-mode validation reports: the skill over the linear
baseline when the run logs one, PSNR otherwise, so the search optimises the number
promotion is decided on.

The study lives in an Optuna storage (by default an SQLite file beside the MLflow
database), so Ctrl-C and a rerun resume it, and several processes or machines given
one storage URL work on one study. Its trials are child runs of one parent run per
study; only the best trial's generator is registered, at the end.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import optuna
from matplotlib import pyplot as plt

from geocolor.errors import GeocolorError, one_line
from geocolor.models.device import resolve_device
from geocolor.models.logged import register_generator
from geocolor.models.model_registry import experiment_id
from geocolor.plugins.manager import get_plugins
from geocolor.progress import progress_bar
from geocolor.train.loop import train
from geocolor.train.promotion import promote_if_better
from geocolor.train.run_config import TrainConfig
from geocolor.train.run_hooks import RunHooks
from geocolor.train.store_data import StoreData
from geocolor.train.tune_space import SearchSpace

#: Study attribute holding the parent MLflow run's id.
PARENT_RUN = "mlflow_parent_run_id"
#: Study attribute mapping each registered trial number to its model version.
REGISTERED = "registered_versions"
#: Validation metrics a trial is scored on, the first one a run reports.
OBJECTIVES = ("skill", "psnr")
PARENT_WAIT_SECONDS = 60.0
STORAGE_ATTEMPTS = 10


@dataclass(frozen=True)
class Study:
    """What a study is asked to do.

    Parameters
    ----------
    store
        The prepared Zarr store every trial trains on.
    base
        The ``geocolor train`` settings the space's draws replace.
    space
        The search space (:func:`~geocolor.train.tune_space.read_space`).
    name, storage
        The study's name and Optuna storage URL (shared by every worker).
    trials, timeout
        This process's budget: trials to run, seconds to run them in (None: no limit).
    seed
        Seed of the sampler; give each worker of one study its own, or none.
    promote_if_better
        Alias moved to the best trial's version if it beats the holder, as ``train`` does.
    """

    store: str
    base: TrainConfig
    space: SearchSpace
    name: str
    storage: str
    trials: int | None = None
    timeout: float | None = None
    seed: int | None = None
    promote_if_better: str | None = None


@dataclass(frozen=True)
class StudyResult:
    """The state of a study after this process's share of it."""

    parent_run_id: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    model_version: str
    promoted: bool
    completed: int
    pruned: int


def default_storage(tracking_uri: str) -> str:
    """An SQLite file beside MLflow's SQLite database, else in the working folder."""
    if tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri.removeprefix("sqlite:///"))
        return f"sqlite:///{database.with_name('optuna.db')}"
    return "sqlite:///optuna.db"


def objective(metrics: Mapping[str, float]) -> tuple[str, float]:
    """The metric a trial is scored and pruned on, and its value."""
    for name in OBJECTIVES:
        if name in metrics:
            return name, float(metrics[name])
    raise GeocolorError(f"validation reported none of {', '.join(OBJECTIVES)}")


def run_study(study: Study) -> StudyResult:
    """Run this process's trials of ``study``, then register (and promote) the best."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=study.seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    storage = open_storage(study.storage)
    try:
        search = optuna.create_study(
            study_name=study.name,
            storage=storage,
            sampler=sampler,
            pruner=pruner,
            direction="maximize",
        )
        parent = _create_parent(search, study)
    except optuna.exceptions.DuplicatedStudyError:
        search = optuna.load_study(
            study_name=study.name, storage=storage, sampler=sampler, pruner=pruner
        )
        parent = _wait_for_parent(search)
    client = mlflow.MlflowClient()
    client.update_run(parent, status="RUNNING")
    try:
        _optimise(search, study, parent)
        return _conclude(search, study, parent)
    finally:
        client.set_terminated(parent, "FINISHED")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The study storage at ``url``, created if new.

    Workers started together on a new database race to create its schema: the losers
    see the winner's tables half made and retry until they are whole.
    """
    from sqlalchemy.exc import SQLAlchemyError

    for attempt in range(1, STORAGE_ATTEMPTS):
        try:
            return optuna.storages.get_storage(url)
        except SQLAlchemyError:
            time.sleep(0.2 * attempt)
    try:
        return optuna.storages.get_storage(url)
    except SQLAlchemyError as exc:
        raise GeocolorError(
            f"cannot open the study storage {_storage_label(url)}: {one_line(exc)}"
        ) from None


def _create_parent(search: optuna.Study, study: Study) -> str:
    run = mlflow.MlflowClient().create_run(
        experiment_id(study.base.experiment),
        run_name=f"tune-{study.name}",
        tags={"optuna.study": study.name, "optuna.storage": _storage_label(study.storage)},
    )
    search.set_user_attr(PARENT_RUN, run.info.run_id)
    return str(run.info.run_id)


def _wait_for_parent(search: optuna.Study) -> str:
    """The parent run id, written by the worker that created the study."""
    deadline = time.monotonic() + PARENT_WAIT_SECONDS
    while PARENT_RUN not in search.user_attrs:
        if time.monotonic() > deadline:
            raise GeocolorError(
                f"study {search.study_name} has no MLflow parent run: was it made by "
                "something other than geocolor tune?"
            )
        time.sleep(0.5)
    return str(search.user_attrs[PARENT_RUN])


def _storage_label(storage: str) -> str:
    """The storage URL without its password, fit for a tag."""
    scheme, _, rest = storage.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _optimise(search: optuna.Study, study: Study, parent: str) -> None:
    client = mlflow.MlflowClient()

    def trial_run(trial: optuna.Trial) -> float:
        drawn = study.space.suggest(trial)
        config = study.space.apply(study.base, drawn).model_copy(update={"promote_if_better": None})
        run_ids: list[str] = []

        def report(run_id: str, epoch: int, metrics: Mapping[str, float]) -> None:
            run_ids[:] = [run_id]
            name, value = objective(metrics)
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"val {name} {value:.3f} after epoch {epoch + 1}")

        hooks = RunHooks(
            run_name=f"{study.name}-trial-{trial.number}",
            tags={
                "mlflow.parentRunId": parent,
                "optuna.study": study.name,
                "optuna.trial": str(trial.number),
            },
            on_epoch=report,
            register=False,
        )
        try:
            result = train(study.store, config, hooks=hooks)
        except optuna.TrialPruned:
            if run_ids:
                client.set_tag(run_ids[0], "optuna.state", "PRUNED")
                client.set_terminated(run_ids[0], "KILLED")
            raise
        client.set_tag(result.run_id, "optuna.state", "COMPLETE")
        trial.set_user_attr("run_id", result.run_id)
        trial.set_user_attr("logged_model", result.logged_model)
        trial.set_user_attr("metrics", result.metrics)
        return objective(result.metrics)[1]

    with progress_bar(study.trials, desc=f"study {study.name}", unit="trial") as bar:

        def advance(search: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
            states = [t.state for t in search.get_trials(deepcopy=False)]
            done = states.count(optuna.trial.TrialState.COMPLETE)
            best = f"{search.best_value:.3f}" if done else "-"
            bar.set_postfix(
                complete=done, pruned=states.count(optuna.trial.TrialState.PRUNED), best=best
            )
            bar.update(1)

        search.optimize(
            trial_run,
            n_trials=study.trials,
            timeout=study.timeout,
            callbacks=[advance],
            catch=(GeocolorError,),
            gc_after_trial=True,
        )


def _conclude(search: optuna.Study, study: Study, parent: str) -> StudyResult:
    """Log the study in its parent run; register and maybe promote its best trial."""
    trials = search.get_trials(deepcopy=False)
    completed = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    if not completed:
        raise GeocolorError(
            f"study {study.name}: no trial completed ({pruned} pruned, "
            f"{len(trials) - pruned} failed or running)"
        )
    best = search.best_trial
    config = study.space.apply(study.base, best.params).model_copy(
        update={"promote_if_better": study.promote_if_better}
    )
    registered: dict[str, str] = dict(search.user_attrs.get(REGISTERED, {}))
    with mlflow.start_run(run_id=parent):
        mlflow.log_params({f"best.{key}": value for key, value in best.params.items()})
        mlflow.log_metrics(
            {"best_value": float(search.best_value), "trials_complete": len(completed)}
        )
        mlflow.set_tags({"best_trial": str(best.number), "best_run": best.user_attrs["run_id"]})
        _log_plots(search)
        version = registered.get(str(best.number))
        if version is None:
            version = register_generator(
                best.user_attrs["logged_model"],
                config.model_name,
                {"backend": config.backend, "optuna.study": study.name},
            )
            search.set_user_attr(REGISTERED, {**registered, str(best.number): version})
        promoted = False
        if study.promote_if_better:
            promoted = promote_if_better(
                config,
                StoreData.open(study.store),
                version,
                best.user_attrs["metrics"],
                resolve_device(config.device),
                get_plugins().backends,
            )
    return StudyResult(
        parent_run_id=parent,
        best_trial=best.number,
        best_value=float(search.best_value),
        best_params=dict(best.params),
        model_version=version,
        promoted=promoted,
        completed=len(completed),
        pruned=pruned,
    )


def _log_plots(search: optuna.Study) -> None:
    """Optimisation history and, once computable, parameter importances, as PNGs."""
    from optuna.visualization import matplotlib as optuna_plots

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        # "too few trials for importances": the plot then shows them equal, as it says
        warnings.simplefilter("ignore", UserWarning)
        axes = optuna_plots.plot_optimization_history(search)
        mlflow.log_figure(axes.figure, "optimization_history.png")
        plt.close("all")
        try:
            axes = optuna_plots.plot_param_importances(search)
        except (ValueError, RuntimeError) as exc:
            # importances need two completed trials that differ in some parameter
            mlflow.set_tag("param_importances", f"not computed: {exc}")
            return
        mlflow.log_figure(axes.figure, "param_importances.png")
        plt.close("all")
