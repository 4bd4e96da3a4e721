"""GPU training on Compute Engine: one VM per run, gone when the run ends.

The VM comes from the instance template in ``infra/`` (GPU, NVIDIA driver, Docker,
the training service account). Its startup script runs the training image against
the team's MLflow server and data bucket, then deletes its own instance from an
``EXIT`` trap, so a finished or failed run never leaves a GPU billing; a maximum run
duration is the backstop when the script itself never gets to run. Everything but
:func:`run_train` is a pure function of a :class:`TrainJob`, so ``--dry-run`` prints
exactly what would run.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from geocolor.errors import GeocolorError, UsageError
from geocolor.train.accelerator import Accelerator

DEFAULT_TEMPLATE = "geocolor-train"
INSTANCE_NAME = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?")
CONFIG_ON_HOST = "/var/lib/geocolor/train.yaml"
CONFIG_IN_CONTAINER = "/config/train.yaml"
CONFIG_DELIMITER = "GEOCOLOR_CONFIG"
# MLflow's credentials file: fetched from Secret Manager onto the VM, readable by the
# image's user only, and mounted where MLflow looks for it (~/.mlflow/credentials), so
# the password is neither in the script nor in the container's environment.
CREDENTIALS_ON_HOST = "/var/lib/geocolor/mlflow-credentials"
CREDENTIALS_IN_CONTAINER = "/home/geocolor/.mlflow/credentials"
IMAGE_UID = 10001
SCRIPT_DELIMITER = "GEOCOLOR_STARTUP"
GPU_WAIT_TRIES = 60
GPU_WAIT_SECONDS = 10


@dataclass(frozen=True)
class TrainJob:
    """One training run on its own VM.

    Parameters
    ----------
    name
        Instance name, also the handle to follow or delete the VM by.
    project, zone
        Where the VM runs; the zone must offer the template's GPU.
    template
        Instance template from ``infra/`` (``geocolor-train``).
    image
        Training image in Artifact Registry, ideally pinned by commit SHA.
    store
        Prepared Zarr store in the data bucket (``gs://…``): the VM sees no local path.
    mlflow_uri
        The team's tracking server as the VM reaches it (its private address).
    mlflow_credentials_secret
        Secret Manager secret holding the MLflow credentials file the run signs in with
        (infra/ makes it); None for a server without authentication.
    config_text
        The pipeline YAML, copied onto the VM so local edits travel with the run.
    train_args
        Further ``geocolor train`` options, passed through unchanged.
    machine_type, accelerator
        Overrides of the template's machine type and GPUs.
    max_run_duration
        Compute Engine deletes the VM after this long whatever happens (``24h``).
    """

    name: str
    project: str
    zone: str
    template: str
    image: str
    store: str
    mlflow_uri: str
    mlflow_credentials_secret: str | None = None
    config_text: str | None = None
    train_args: tuple[str, ...] = ()
    machine_type: str | None = None
    accelerator: Accelerator | None = None
    max_run_duration: str = "24h"

    def __post_init__(self) -> None:
        if not INSTANCE_NAME.fullmatch(self.name):
            raise UsageError(
                f"--name {self.name!r}: an instance name is lower-case letters, digits and "
                "hyphens, starts with a letter and has at most 63 characters"
            )
        if not self.store.startswith("gs://"):
            raise UsageError(
                f"{self.store}: the training VM reads the store from Cloud Storage, "
                "so it must be a gs:// path"
            )
        if self.config_text is not None and CONFIG_DELIMITER in self.config_text.splitlines():
            raise UsageError(f"the training config contains the line {CONFIG_DELIMITER}")


def default_instance_name(now: datetime) -> str:
    """A name that sorts by start time and never clashes between two starts."""
    return f"{DEFAULT_TEMPLATE}-{now:%Y%m%d-%H%M%S}"


def delete_command(job: TrainJob) -> list[str]:
    """Delete the job's VM (what the VM runs on itself when training ends)."""
    return [
        "gcloud",
        "compute",
        "instances",
        "delete",
        job.name,
        f"--project={job.project}",
        f"--zone={job.zone}",
        "--quiet",
    ]


def container_command(job: TrainJob) -> list[str]:
    """``docker run`` of the training image; several GPUs train under torchrun (DDP)."""
    gpus = job.accelerator.count if job.accelerator else 1
    command = [
        "docker",
        "run",
        "--rm",
        "--gpus=all",
        "--network=host",
        "--shm-size=16g",
        f"--env=MLFLOW_TRACKING_URI={job.mlflow_uri}",
    ]
    if job.mlflow_credentials_secret is not None:
        command.append(f"--volume={CREDENTIALS_ON_HOST}:{CREDENTIALS_IN_CONTAINER}:ro")
    if job.config_text is not None:
        command.append(f"--volume={CONFIG_ON_HOST}:{CONFIG_IN_CONTAINER}:ro")
    if gpus > 1:
        command += ["--entrypoint=torchrun", job.image, f"--nproc-per-node={gpus}"]
        command += ["-m", "geocolor.cli"]
    else:
        command.append(job.image)
    command += ["train", job.store]
    if job.config_text is not None:
        command += ["--config", CONFIG_IN_CONTAINER]
    return command + list(job.train_args)


def _registry_host(image: str) -> str | None:
    """Artifact Registry host of ``image`` (Docker needs gcloud's helper for it)."""
    host = image.split("/", 1)[0]
    return host if host.endswith("-docker.pkg.dev") else None


def startup_script(job: TrainJob) -> str:
    """The VM's startup script: train once, then delete the VM however training ended."""
    lines = [
        "#!/bin/bash",
        f"# geocolor cloud train {job.name}: runs once as root when the VM boots.",
        "set -euo pipefail",
        f"trap {shlex.quote(shlex.join(delete_command(job)))} EXIT",
        f"for _ in $(seq {GPU_WAIT_TRIES}); do",
        f"  nvidia-smi > /dev/null 2>&1 && break || sleep {GPU_WAIT_SECONDS}",
        "done",
        "nvidia-smi",
    ]
    host = _registry_host(job.image)
    if host is not None:
        lines.append(shlex.join(["gcloud", "auth", "configure-docker", host, "--quiet"]))
    if job.mlflow_credentials_secret is not None:
        lines += _credentials_lines(job, job.mlflow_credentials_secret)
    if job.config_text is not None:
        lines += [
            f"mkdir -p {shlex.quote(str(Path(CONFIG_ON_HOST).parent))}",
            f"cat > {CONFIG_ON_HOST} <<'{CONFIG_DELIMITER}'",
            job.config_text.rstrip("\n"),
            CONFIG_DELIMITER,
        ]
    lines.append(shlex.join(container_command(job)))
    return "\n".join(lines) + "\n"


def _credentials_lines(job: TrainJob, secret: str) -> list[str]:
    """Write the MLflow credentials file from Secret Manager, for the image's user only."""
    access = ["gcloud", "secrets", "versions", "access", "latest"]
    access += [f"--secret={secret}", f"--project={job.project}"]
    return [
        f"mkdir -p {shlex.quote(str(Path(CREDENTIALS_ON_HOST).parent))}",
        f"(umask 077 && {shlex.join(access)} > {CREDENTIALS_ON_HOST})",
        f"chown {IMAGE_UID}:{IMAGE_UID} {CREDENTIALS_ON_HOST}",
    ]


def create_command(job: TrainJob, script_path: str) -> list[str]:
    """``gcloud compute instances create`` from the template, the script as metadata."""
    command = [
        "gcloud",
        "compute",
        "instances",
        "create",
        job.name,
        f"--project={job.project}",
        f"--zone={job.zone}",
        f"--source-instance-template={job.template}",
    ]
    if job.machine_type:
        command.append(f"--machine-type={job.machine_type}")
    if job.accelerator:
        command.append(f"--accelerator=type={job.accelerator.type},count={job.accelerator.count}")
    return [
        *command,
        f"--max-run-duration={job.max_run_duration}",
        "--instance-termination-action=DELETE",
        f"--metadata-from-file=startup-script={script_path}",
        "--labels=geocolor-job=train",
    ]


def script_file_name(job: TrainJob) -> str:
    """File name the startup script is written to before ``gcloud`` uploads it."""
    return f"{job.name}-startup.sh"


def dry_run_text(job: TrainJob) -> str:
    """A shell transcript that does what :func:`run_train` would: write, then create."""
    path = script_file_name(job)
    return (
        f"cat > {path} <<'{SCRIPT_DELIMITER}'\n"
        f"{startup_script(job)}"
        f"{SCRIPT_DELIMITER}\n"
        f"{shlex.join(create_command(job, path))}\n"
    )


def run_train(job: TrainJob) -> None:
    """Create the job's VM with the local ``gcloud`` (its login and output)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise GeocolorError(
            "gcloud was not found on PATH: install the Google Cloud CLI and log in "
            "(or print the commands with --dry-run)"
        )
    with tempfile.TemporaryDirectory(prefix="geocolor-cloud-") as folder:
        script = Path(folder) / script_file_name(job)
        script.write_text(startup_script(job), encoding="utf-8")
        command = create_command(job, str(script))
        result = subprocess.run([gcloud, *command[1:]], check=False)
    if result.returncode != 0:
        raise GeocolorError(
            f"gcloud could not create the training VM {job.name} "
            f"(exit code {result.returncode}); its message is above"
        )
