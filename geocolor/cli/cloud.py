"""``geocolor cloud``: run geocolor's heavy jobs on Google Cloud (see docs/deploy.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import fsspec

from geocolor.config import load_config
from geocolor.errors import UsageError
from geocolor.train.accelerator import parse_accelerator
from geocolor.train.gce_vm import (
    DEFAULT_TEMPLATE,
    TrainJob,
    default_instance_name,
    dry_run_text,
    run_train,
)
from geocolor.train.run_config import TrainConfig
from geocolor.train.vertex_job import DEFAULT_MACHINE_TYPE as VERTEX_MACHINE_TYPE
from geocolor.train.vertex_job import VertexTrainJob, custom_job_json, submit


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
@click.option("--config", "config_path", default=None, help="Pipeline YAML (pipelines/train.yaml).")
@click.option(
    "--machine-type", default=None, help="gce: override the template's; vertex: g2-standard-8."
)
@click.option("--gpu", default=None, metavar="TYPE[:COUNT]", help="GPUs, e.g. nvidia-l4:2.")
@click.option("--project", envvar="GEOCOLOR_GCP_PROJECT", required=True, show_envvar=True)
@click.option("--zone", envvar="GEOCOLOR_GCP_ZONE", show_envvar=True, help="gce: the VM's zone.")
@click.option(
    "--region", envvar="GEOCOLOR_GCP_REGION", show_envvar=True, help="vertex: the job's region."
)
@click.option(
    "--template",
    envvar="GEOCOLOR_TRAIN_TEMPLATE",
    default=DEFAULT_TEMPLATE,
    show_envvar=True,
    help="gce: the instance template from infra/.",
)
@click.option(
    "--service-account",
    envvar="GEOCOLOR_VERTEX_SERVICE_ACCOUNT",
    show_envvar=True,
    help="vertex: the identity the job runs as (infra/ output vertex_service_account).",
)
@click.option(
    "--staging",
    envvar="GEOCOLOR_VERTEX_STAGING",
    show_envvar=True,
    help="vertex: gs:// folder for the job's outputs and config (infra/ output vertex_staging).",
)
@click.option(
    "--network",
    envvar="GEOCOLOR_VERTEX_NETWORK",
    show_envvar=True,
    help="vertex: VPC to peer into to reach MLflow (infra/ output vertex_network).",
)
@click.option(
    "--image",
    envvar="GEOCOLOR_TRAIN_IMAGE",
    required=True,
    show_envvar=True,
    help="Training image (REGION-docker.pkg.dev/PROJECT/geocolor/train:SHA).",
)
@click.option(
    "--mlflow-uri",
    envvar="MLFLOW_TRACKING_URI",
    required=True,
    show_envvar=True,
    help="The team's MLflow server as the VM or job reaches it.",
)
@click.option(
    "--mlflow-credentials-secret",
    envvar="GEOCOLOR_MLFLOW_CREDENTIALS_SECRET",
    default=None,
    show_envvar=True,
    help="Secret Manager secret with the MLflow credentials file the run signs in with.",
)
@click.option("--name", default=None, help="VM or job name (geocolor-train-DATE-TIME).")
@click.option("--max-run-duration", default="24h", help="Stop the run after this long anyway.")
@click.option(
    "--vertex-endpoint",
    envvar="GEOCOLOR_VERTEX_ENDPOINT",
    default=None,
    hidden=True,
    help="Vertex AI API host other than REGION-aiplatform.googleapis.com.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be submitted instead.")
def cloud_train_command(
    store: str,
    train_args: tuple[str, ...],
    platform: str,
    config_path: str | None,
    machine_type: str | None,
    gpu: str | None,
    project: str,
    zone: str | None,
    region: str | None,
    template: str,
    service_account: str | None,
    staging: str | None,
    network: str | None,
    image: str,
    mlflow_uri: str,
    mlflow_credentials_secret: str | None,
    name: str | None,
    max_run_duration: str,
    vertex_endpoint: str | None,
    dry_run: bool,
) -> None:
    """Train on a GPU VM that deletes itself, or as a Vertex AI CustomJob.

    STORE is the prepared Zarr store in the data bucket (gs://…); options after `--`
    go to `geocolor train` unchanged. The config is checked here, before anything starts.
    """
    config_text = None
    if config_path is not None:
        load_config(TrainConfig, config_path)
        with fsspec.open(config_path, "r", encoding="utf-8") as handle:
            config_text = handle.read()
    name = name or default_instance_name(datetime.now(UTC))
    accelerator = parse_accelerator(gpu) if gpu else None
    if platform == "vertex":
        job = VertexTrainJob(
            display_name=name,
            project=project,
            region=_required(region, "--region", platform),
            image=image,
            store=store,
            mlflow_uri=mlflow_uri,
            service_account=_required(service_account, "--service-account", platform),
            staging=_required(staging, "--staging", platform),
            network=network,
            mlflow_credentials_secret=mlflow_credentials_secret,
            has_config=config_text is not None,
            train_args=train_args,
            machine_type=machine_type or VERTEX_MACHINE_TYPE,
            accelerator=accelerator,
            max_run_duration=max_run_duration,
        )
        if dry_run:
            click.echo(custom_job_json(job), nl=False)
            return
        created = submit(job, config_text, vertex_endpoint)
        click.echo(
            f"{created} is training; follow it with: gcloud ai custom-jobs stream-logs {created}"
        )
        return
    vm = TrainJob(
        name=name,
        project=project,
        zone=_required(zone, "--zone", platform),
        template=template,
        image=image,
        store=store,
        mlflow_uri=mlflow_uri,
        mlflow_credentials_secret=mlflow_credentials_secret,
        config_text=config_text,
        train_args=train_args,
        machine_type=machine_type,
        accelerator=accelerator,
        max_run_duration=max_run_duration,
    )
    if dry_run:
        click.echo(dry_run_text(vm), nl=False)
        return
    run_train(vm)
    click.echo(
        f"{vm.name} is training; follow it with: gcloud compute instances "
        f"get-serial-port-output {vm.name} --project={project} --zone={zone}"
    )


def _required(value: str | None, option: str, platform: str) -> str:
    """``value`` of an option only one platform needs, or a usage error naming it."""
    if not value:
        raise UsageError(f"--platform {platform} needs {option}")
    return value
