"""``geocolor cloud``: run geocolor's heavy jobs on Google Cloud (see docs/deploy.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import fsspec

from geocolor.config import load_config
from geocolor.errors import UsageError
from geocolor.io.secrets import ENV_MLFLOW_SIGN_IN_SECRET, ENV_OPTUNA_STORAGE_SECRET
from geocolor.plugins.manager import get_plugins
from geocolor.train.accelerator import Accelerator, parse_accelerator
from geocolor.train.gce_vm import (
    DEFAULT_TEMPLATE,
    TrainJob,
    default_instance_name,
    dry_run_text,
    run_train,
)
from geocolor.train.run_config import TrainConfig
from geocolor.train.tune_space import DEFAULT_SPACE, read_space
from geocolor.train.vertex_job import DEFAULT_MACHINE_TYPE as VERTEX_MACHINE_TYPE
from geocolor.train.vertex_job import VertexJob, custom_jobs_json, require_gs, staged, submit


def _shared_options(command: Callable[..., None]) -> Callable[..., None]:
    """Options every cloud job takes: where, which image, which MLflow, which machine."""
    options = [
        click.option("--project", envvar="GEOCOLOR_GCP_PROJECT", required=True, show_envvar=True),
        click.option(
            "--image",
            envvar="GEOCOLOR_TRAIN_IMAGE",
            required=True,
            show_envvar=True,
            help="Training image (REGION-docker.pkg.dev/PROJECT/geocolor/train:SHA).",
        ),
        click.option(
            "--mlflow-uri",
            envvar="MLFLOW_TRACKING_URI",
            required=True,
            show_envvar=True,
            help="The team's MLflow server as the VM or job reaches it.",
        ),
        click.option(
            "--mlflow-credentials-secret",
            envvar="GEOCOLOR_MLFLOW_CREDENTIALS_SECRET",
            default=None,
            show_envvar=True,
            help="Secret Manager secret with the MLflow credentials file the run signs in with.",
        ),
        click.option(
            "--config", "config_path", default=None, help="Pipeline YAML (pipelines/train.yaml)."
        ),
        click.option(
            "--machine-type",
            default=None,
            help="gce: override the template's; vertex: g2-standard-8.",
        ),
        click.option("--gpu", default=None, metavar="TYPE[:COUNT]", help="GPUs, e.g. nvidia-l4:2."),
        click.option("--name", default=None, help="VM or job name (geocolor-train-DATE-TIME)."),
        click.option(
            "--max-run-duration", default="24h", help="Stop the run after this long anyway."
        ),
        click.option("--dry-run", is_flag=True, help="Print what would be submitted instead."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _vertex_options(command: Callable[..., None]) -> Callable[..., None]:
    """Options of Vertex AI jobs (``infra/`` outputs give each one's value)."""
    options = [
        click.option(
            "--region",
            envvar="GEOCOLOR_GCP_REGION",
            show_envvar=True,
            help="vertex: the job's region.",
        ),
        click.option(
            "--service-account",
            envvar="GEOCOLOR_VERTEX_SERVICE_ACCOUNT",
            show_envvar=True,
            help="vertex: the identity the job runs as (infra/ output vertex_service_account).",
        ),
        click.option(
            "--staging",
            envvar="GEOCOLOR_VERTEX_STAGING",
            show_envvar=True,
            help="vertex: gs:// folder for jobs' files and outputs (infra/ output vertex_staging).",
        ),
        click.option(
            "--network",
            envvar="GEOCOLOR_VERTEX_NETWORK",
            show_envvar=True,
            help="vertex: VPC to peer into to reach MLflow (infra/ output vertex_network).",
        ),
        click.option(
            "--vertex-endpoint",
            envvar="GEOCOLOR_VERTEX_ENDPOINT",
            default=None,
            hidden=True,
            help="Vertex AI API host other than REGION-aiplatform.googleapis.com.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@dataclass(frozen=True)
class _VertexPlace:
    """Where and as whom Vertex AI jobs run, and what every job's container is told."""

    project: str
    region: str
    image: str
    service_account: str
    staging: str
    network: str | None
    environment: dict[str, str]
    machine_type: str
    accelerator: Accelerator | None
    max_run_duration: str

    def job(self, name: str, arguments: tuple[str, ...]) -> VertexJob:
        return VertexJob(
            display_name=name,
            project=self.project,
            region=self.region,
            image=self.image,
            arguments=arguments,
            service_account=self.service_account,
            staging=self.staging,
            environment=self.environment,
            network=self.network,
            machine_type=self.machine_type,
            accelerator=self.accelerator,
            max_run_duration=self.max_run_duration,
        )


def _vertex_place(options: dict[str, Any], accelerator: Accelerator | None) -> _VertexPlace:
    environment = {"MLFLOW_TRACKING_URI": options["mlflow_uri"]}
    if options["mlflow_credentials_secret"]:
        environment[ENV_MLFLOW_SIGN_IN_SECRET] = secret_resource(
            options["mlflow_credentials_secret"], options["project"]
        )
    staging = _required(options["staging"], "--staging", "vertex")
    require_gs(staging, "--staging")
    return _VertexPlace(
        project=options["project"],
        region=_required(options["region"], "--region", "vertex"),
        image=options["image"],
        service_account=_required(options["service_account"], "--service-account", "vertex"),
        staging=staging,
        network=options["network"],
        environment=environment,
        machine_type=options["machine_type"] or VERTEX_MACHINE_TYPE,
        accelerator=accelerator,
        max_run_duration=options["max_run_duration"],
    )


def secret_resource(name: str, project: str) -> str:
    """``projects/P/secrets/S`` for a secret given by its short name, as gcloud takes it."""
    return name if name.startswith("projects/") else f"projects/{project}/secrets/{name}"


def _read_config(config_path: str | None) -> str | None:
    """The pipeline YAML's text, checked here before anything starts."""
    if config_path is None:
        return None
    load_config(TrainConfig, config_path)
    with fsspec.open(config_path, "r", encoding="utf-8") as handle:
        return str(handle.read())


def _submit_vertex(
    jobs: list[VertexJob], uploads: dict[str, str], dry_run: bool, endpoint: str | None
) -> None:
    if dry_run:
        click.echo(custom_jobs_json(jobs), nl=False)
        return
    for created in submit(jobs, uploads, endpoint):
        click.echo(
            f"{created} submitted; follow it with: gcloud ai custom-jobs stream-logs {created}"
        )


@click.group("cloud")
def cloud_group() -> None:
    """Run jobs on Google Cloud with the infrastructure from infra/."""


@cloud_group.command("train", context_settings={"show_default": True})
@click.argument("store")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- TRAIN_OPTIONS]")
@click.option(
    "--platform",
    type=click.Choice(["gce", "vertex"]),
    default="gce",
    help="A self-deleting Compute Engine VM, or a Vertex AI CustomJob (docs/deploy.md).",
)
@_shared_options
@click.option("--zone", envvar="GEOCOLOR_GCP_ZONE", show_envvar=True, help="gce: the VM's zone.")
@click.option(
    "--template",
    envvar="GEOCOLOR_TRAIN_TEMPLATE",
    default=DEFAULT_TEMPLATE,
    show_envvar=True,
    help="gce: the instance template from infra/.",
)
@_vertex_options
def cloud_train_command(
    store: str, train_args: tuple[str, ...], platform: str, **options: Any
) -> None:
    """Train on a GPU VM that deletes itself, or as a Vertex AI CustomJob.

    STORE is the prepared Zarr store in the data bucket (gs://…); options after `--`
    go to `geocolor train` unchanged. The config is checked here, before anything starts.
    """
    config_text = _read_config(options["config_path"])
    name = options["name"] or default_instance_name(datetime.now(UTC))
    accelerator = parse_accelerator(options["gpu"]) if options["gpu"] else None
    if platform == "vertex":
        require_gs(store, "STORE")
        place = _vertex_place(options, accelerator)
        uploads: dict[str, str] = {}
        config_args: tuple[str, ...] = ()
        if config_text is not None:
            config_uri = staged(place.staging, name, "train.yaml")
            uploads, config_args = {config_uri: config_text}, ("--config", config_uri)
        job = place.job(name, ("train", store, *config_args, *train_args))
        _submit_vertex([job], uploads, options["dry_run"], options["vertex_endpoint"])
        return
    zone = _required(options["zone"], "--zone", platform)
    vm = TrainJob(
        name=name,
        project=options["project"],
        zone=zone,
        template=options["template"],
        image=options["image"],
        store=store,
        mlflow_uri=options["mlflow_uri"],
        mlflow_credentials_secret=options["mlflow_credentials_secret"],
        config_text=config_text,
        train_args=train_args,
        machine_type=options["machine_type"],
        accelerator=accelerator,
        max_run_duration=options["max_run_duration"],
    )
    if options["dry_run"]:
        click.echo(dry_run_text(vm), nl=False)
        return
    run_train(vm)
    click.echo(
        f"{vm.name} is training; follow it with: gcloud compute instances "
        f"get-serial-port-output {vm.name} --project={vm.project} --zone={zone}"
    )


@cloud_group.command("tune", context_settings={"show_default": True})
@click.argument("store")
@click.argument("tune_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- TUNE_OPTIONS]")
@click.option("--workers", type=click.IntRange(min=1), default=2, help="Jobs working on the study.")
@click.option("--trials", type=click.IntRange(min=1), default=10, help="Trials per worker.")
@click.option("--study", "study_name", required=True, help="Study name (shared by the workers).")
@click.option("--space", "space_path", default=DEFAULT_SPACE, help="Search-space YAML.")
@click.option(
    "--storage-secret",
    envvar=ENV_OPTUNA_STORAGE_SECRET,
    required=True,
    show_envvar=True,
    help="Secret Manager secret of the Optuna storage URL (infra/ output optuna_storage_secret).",
)
@_shared_options
@_vertex_options
def cloud_tune_command(
    store: str,
    tune_args: tuple[str, ...],
    workers: int,
    trials: int,
    study_name: str,
    space_path: str,
    storage_secret: str,
    **options: Any,
) -> None:
    """Run a `geocolor tune` study on Vertex AI: one job per worker, one shared storage.

    The workers share the Optuna storage (Cloud SQL, its URL read from Secret Manager by
    each job) and the study's MLflow parent run. Options after `--` go to `geocolor
    tune` unchanged.
    """
    require_gs(store, "STORE")
    config_text = _read_config(options["config_path"])
    backend = load_config(TrainConfig, options["config_path"]).backend
    read_space(space_path, get_plugins().backends.get(backend).config_type)
    with fsspec.open(space_path, "r", encoding="utf-8") as handle:
        space_text = str(handle.read())
    accelerator = parse_accelerator(options["gpu"]) if options["gpu"] else None
    if accelerator is not None and accelerator.count > 1:
        raise UsageError(
            f"--gpu {options['gpu']}: a tune worker trains one trial at a time on one GPU; "
            "ask for more --workers instead"
        )
    place = _vertex_place(options, accelerator)
    place.environment[ENV_OPTUNA_STORAGE_SECRET] = secret_resource(
        storage_secret, options["project"]
    )
    name = options["name"] or f"geocolor-tune-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    space_uri = staged(place.staging, name, "tune.yaml")
    uploads = {space_uri: space_text}
    arguments: tuple[str, ...] = ("tune", store, "--study", study_name, "--space", space_uri)
    if config_text is not None:
        config_uri = staged(place.staging, name, "train.yaml")
        uploads[config_uri] = config_text
        arguments += ("--config", config_uri)
    jobs = [
        place.job(
            f"{name}-{worker}",
            (*arguments, "--trials", str(trials), "--seed", str(worker), *tune_args),
        )
        for worker in range(workers)
    ]
    _submit_vertex(jobs, uploads, options["dry_run"], options["vertex_endpoint"])


def _required(value: str | None, option: str, platform: str) -> str:
    """``value`` of an option only one platform needs, or a usage error naming it."""
    if not value:
        raise UsageError(f"--platform {platform} needs {option}")
    return value
