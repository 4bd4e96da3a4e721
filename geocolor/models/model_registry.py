"""The MLflow model registry as geocolor uses it: versions, aliases, experiments.

Logged generators are registered as versions of a named model; an alias (``production``,
``prod-candidate``) names the version to use, so a ``models:/NAME@ALIAS`` URI follows
promotions. Every call here fails fast on an unreachable tracking server, naming it
(:mod:`geocolor.models.tracking`).
This is MLflow's registry of trained models, not the plugin
:class:`~geocolor.plugins.registry.Registry` of backends and filters.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import mlflow
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from geocolor.errors import GeocolorError, UsageError
from geocolor.models.tracking import quick_tracking, raise_if_unreachable

_ALIAS = re.compile(r"^[\w-]{1,255}$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
#: Version tag: the epochs the registered generator was trained for.
EPOCHS_TAG = "epochs"
#: Version tag: the run's metrics when the version was registered, as JSON. Later epochs
#: of a resumed run log on in the same run, so its latest metrics describe the last version.
METRICS_TAG = "metrics"

_MODELS_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[^/]+))$")


@dataclass(frozen=True)
class VersionInfo:
    """Where a model loaded from the registry sits in it."""

    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RegistryUri:
    """The parts of ``models:/NAME/VERSION`` (``alias`` None) or ``models:/NAME@ALIAS``."""

    name: str
    version: str | None
    alias: str | None


def parse_registry_uri(uri: str) -> RegistryUri | None:
    """The parts of a registry URI, read without asking the registry; None for others."""
    match = _MODELS_URI.match(uri)
    if match is None:
        return None
    return RegistryUri(match["name"], match["version"], match["alias"])


def version_info(uri: str) -> VersionInfo | None:
    """Where a ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS`` URI points; None for others.

    An alias is resolved here once, so a caller that loads the version it names cannot
    mix two versions when the alias moves meanwhile. Raises ``MlflowException`` when the
    registry holds no such version or alias.
    """
    parts = parse_registry_uri(uri)
    if parts is None:
        return None
    client = mlflow.MlflowClient()
    with quick_tracking():
        if parts.version is None:
            found = client.get_model_version_by_alias(parts.name, str(parts.alias))
        else:
            found = client.get_model_version(parts.name, parts.version)
    return _as_info(found)


def _as_info(version: ModelVersion) -> VersionInfo:
    return VersionInfo(
        name=version.name,
        version=str(version.version),
        run_id=version.run_id,
        aliases=tuple(version.aliases),
        tags=dict(version.tags),
    )


@dataclass(frozen=True)
class ModelRow:
    """One registered version, as ``geocolor models list`` shows it."""

    info: VersionInfo
    metrics: dict[str, float]


def list_versions(name: str | None = None) -> list[ModelRow]:
    """Every version of ``name`` (or of every registered model) with its own metrics."""
    with quick_tracking():
        return _list_versions(mlflow.MlflowClient(), name)


def _list_versions(client: mlflow.MlflowClient, name: str | None) -> list[ModelRow]:
    if name:
        try:
            models = [client.get_registered_model(name)]
        except MlflowException as exc:
            raise_if_unreachable(exc)
            raise GeocolorError(f"no registered model called {name!r}") from None
    else:
        models = client.search_registered_models()
    rows = []
    for model in sorted(models, key=lambda m: m.name):
        # search results leave aliases out: take them from the registered model
        aliases: dict[str, list[str]] = {}
        for alias, version in model.aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        versions = client.search_model_versions(f"name = '{model.name}'")
        for version in sorted(versions, key=lambda v: int(v.version)):
            metrics = _version_metrics(client, version)
            info = VersionInfo(
                name=version.name,
                version=str(version.version),
                run_id=version.run_id,
                aliases=tuple(sorted(aliases.get(str(version.version), []))),
                tags=dict(version.tags),
            )
            rows.append(ModelRow(info, metrics))
    return rows


def _version_metrics(client: mlflow.MlflowClient, version: ModelVersion) -> dict[str, float]:
    """The metrics recorded at registration, else (older versions) its run's latest."""
    if METRICS_TAG in version.tags:
        return {str(k): float(v) for k, v in json.loads(version.tags[METRICS_TAG]).items()}
    return _run_metrics(client, version.run_id)


def _run_metrics(client: mlflow.MlflowClient, run_id: str | None) -> dict[str, float]:
    """The latest metrics of the run that logged a version ({} if it is gone)."""
    if not run_id:
        return {}
    try:
        return dict(client.get_run(run_id).data.metrics)
    except MlflowException as exc:
        raise_if_unreachable(exc)
        return {}


def run_versions(run_id: str) -> list[VersionInfo]:
    """The registered versions a run logged, of any model."""
    found = mlflow.MlflowClient().search_model_versions(f"run_id = '{run_id}'")
    return [_as_info(version) for version in found]


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created if new.

    Unlike ``mlflow.set_experiment`` this leaves no process-wide active experiment
    behind, which a later run against another tracking server would inherit.
    """
    client = mlflow.MlflowClient()
    with quick_tracking():
        found = client.get_experiment_by_name(name)
        return found.experiment_id if found is not None else client.create_experiment(name)


def alias_holder(name: str, alias: str) -> VersionInfo | None:
    """The version of ``name`` that ``alias`` points at, if any."""
    try:
        with quick_tracking():
            return _as_info(mlflow.MlflowClient().get_model_version_by_alias(name, alias))
    except MlflowException:
        return None


def check_alias(alias: str) -> None:
    """Refuse an alias MLflow would refuse, as a usage error.

    MLflow's rules: 1 to 255 letters, digits, ``_`` or ``-``; ``latest`` (any case) and
    ``v<digits>`` are reserved for its own version references.
    """
    if not _ALIAS.match(alias):
        raise UsageError(
            f"invalid alias {alias!r}: use 1 to 255 letters, digits, '_' or '-' (e.g. production)."
        )
    if alias.lower() == "latest" or _VERSION_ALIAS.match(alias):
        raise UsageError(f"alias {alias!r} is reserved by MLflow ('latest' and v<number>).")


def promote(name: str, version: str, alias: str) -> None:
    """Point ``alias`` of model ``name`` at ``version`` (moving it if it exists)."""
    check_alias(alias)
    if not version.isdigit():
        raise UsageError(f"version {version!r} is not a version number.")
    client = mlflow.MlflowClient()
    with quick_tracking():
        try:
            client.get_model_version(name, version)
        except MlflowException as exc:
            raise_if_unreachable(exc)
            raise GeocolorError(f"model {name!r} has no version {version}") from None
        client.set_registered_model_alias(name, alias, version)
