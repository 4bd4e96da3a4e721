"""``geocolor cloud``: run geocolor's heavy jobs on Google Cloud (see docs/deploy.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
import fsspec

from geocolor.config import load_config
from geocolor.train.gce_vm import (
    DEFAULT_TEMPLATE,
    TrainJob,
    default_instance_name,
    dry_run_text,
    parse_accelerator,
    run_train,
)
from geocolor.train.run_config import TrainConfig


@click.group("cloud")
def cloud_group() -> None:
    """Run jobs on Google Cloud with the infrastructure from infra/."""


@cloud_group.command("train", context_settings={"show_default": True})
@click.argument("store")
@click.argument("train_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- TRAIN_OPTIONS]")
@click.option("--config", "config_path", default=None, help="Pipeline YAML (pipelines/train.yaml).")
@click.option("--machine-type", default=None, help="Override the template's (g2-standard-8).")
@click.option("--gpu", default=None, metavar="TYPE[:COUNT]", help="Override the template's GPUs.")
@click.option("--project", envvar="GEOCOLOR_GCP_PROJECT", required=True, show_envvar=True)
@click.option("--zone", envvar="GEOCOLOR_GCP_ZONE", required=True, show_envvar=True)
@click.option(
    "--template", envvar="GEOCOLOR_TRAIN_TEMPLATE", default=DEFAULT_TEMPLATE, show_envvar=True
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
    help="The team's MLflow server as the VM reaches it.",
)
@click.option(
    "--mlflow-credentials-secret",
    envvar="GEOCOLOR_MLFLOW_CREDENTIALS_SECRET",
    default=None,
    show_envvar=True,
    help="Secret Manager secret with the MLflow credentials file the VM signs in with.",
)
@click.option("--name", default=None, help="Instance name (geocolor-train-DATE-TIME).")
@click.option("--max-run-duration", default="24h", help="Delete the VM after this long anyway.")
@click.option("--dry-run", is_flag=True, help="Print the commands instead of running them.")
def cloud_train_command(
    store: str,
    train_args: tuple[str, ...],
    config_path: str | None,
    machine_type: str | None,
    gpu: str | None,
    project: str,
    zone: str,
    template: str,
    image: str,
    mlflow_uri: str,
    mlflow_credentials_secret: str | None,
    name: str | None,
    max_run_duration: str,
    dry_run: bool,
) -> None:
    """Train on a GPU VM that deletes itself when training ends or fails.

    STORE is the prepared Zarr store in the data bucket (gs://…); options after `--`
    go to `geocolor train` unchanged. The config is checked here, before any VM starts.
    """
    config_text = None
    if config_path is not None:
        load_config(TrainConfig, config_path)
        with fsspec.open(config_path, "r", encoding="utf-8") as handle:
            config_text = handle.read()
    job = TrainJob(
        name=name or default_instance_name(datetime.now(UTC)),
        project=project,
        zone=zone,
        template=template,
        image=image,
        store=store,
        mlflow_uri=mlflow_uri,
        mlflow_credentials_secret=mlflow_credentials_secret,
        config_text=config_text,
        train_args=train_args,
        machine_type=machine_type,
        accelerator=parse_accelerator(gpu) if gpu else None,
        max_run_duration=max_run_duration,
    )
    if dry_run:
        click.echo(dry_run_text(job), nl=False)
        return
    run_train(job)
    click.echo(
        f"{job.name} is training; follow it with: gcloud compute instances "
        f"get-serial-port-output {job.name} --project={project} --zone={zone}"
    )
