"""GPU jobs as Vertex AI CustomJobs: the managed alternative to a self-deleting VM.

Vertex provisions the machine, pulls the training image, runs one ``geocolor`` command
(``train``, or a ``tune`` worker) and releases everything when it ends, with retries,
quotas and logs handled by the service. Jobs are described with the client library's
own request types (``google.cloud.aiplatform_v1``), so ``--dry-run`` prints exactly
the messages that :func:`submit` sends, and the JSON parses back into ``CustomJob``.

The job reaches MLflow as the training VM does: over the VPC (the job is peered into
the network through the private services range that Cloud SQL already uses), signed in
with the training credentials, which the container reads from Secret Manager itself
(``GEOCOLOR_MLFLOW_SIGN_IN_SECRET``) because Vertex cannot mount a secret as a file.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from geocolor.errors import GeocolorError, UsageError
from geocolor.train.accelerator import Accelerator

if TYPE_CHECKING:
    from google.cloud.aiplatform_v1.types import AcceleratorType, CustomJob

DEFAULT_MACHINE_TYPE = "g2-standard-8"
_DISPLAY_NAME = re.compile(r"[A-Za-z0-9][-_.A-Za-z0-9]{0,127}")
_DURATION = re.compile(r"(?P<value>[1-9][0-9]*)(?P<unit>[smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class VertexJob:
    """One ``geocolor`` command run as a Vertex AI CustomJob.

    Parameters
    ----------
    display_name
        The job's name in the console and in ``gcloud ai custom-jobs list``.
    project, region
        Where the job runs; the region must offer the machine and GPU.
    image
        Training image in Artifact Registry, ideally pinned by commit SHA.
    arguments
        The ``geocolor`` command line the image's entrypoint runs (``train STORE …``).
    service_account
        Identity the job runs as (``infra/`` makes one with only what training needs).
    staging
        ``gs://`` folder under which the job's outputs go (``STAGING/NAME``).
    environment
        Variables of the container: addresses and secret *names*, never secret values.
    network
        VPC the job is peered into (``projects/NUMBER/global/networks/NAME``), so it
        reaches MLflow's private address; None for an MLflow reachable without it.
    machine_type, accelerator
        The worker's machine and GPUs; several GPUs run the command under torchrun.
    max_run_duration
        Vertex cancels the job after this long (``24h``).
    """

    display_name: str
    project: str
    region: str
    image: str
    arguments: tuple[str, ...]
    service_account: str
    staging: str
    environment: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    machine_type: str = DEFAULT_MACHINE_TYPE
    accelerator: Accelerator | None = None
    max_run_duration: str = "24h"

    def __post_init__(self) -> None:
        if not _DISPLAY_NAME.fullmatch(self.display_name):
            raise UsageError(
                f"--name {self.display_name!r}: a job name is letters, digits, '-', '_' "
                "and '.', at most 128 characters"
            )
        require_gs(self.staging, "--staging")
        timeout_seconds(self.max_run_duration)
        require_client_library()
        if self.accelerator is not None:
            accelerator_type(self.accelerator)

    @property
    def parent(self) -> str:
        """The location the job is created under."""
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def output_folder(self) -> str:
        """The job's own folder under ``staging``."""
        return staged(self.staging, self.display_name)


def staged(staging: str, *names: str) -> str:
    """A path under the ``gs://`` staging folder."""
    return "/".join([staging.rstrip("/"), *names])


def require_gs(path: str, option: str) -> None:
    """Refuse a path a Vertex AI job could not reach."""
    if not path.startswith("gs://"):
        raise UsageError(
            f"{option} {path}: a Vertex AI job reads and writes Cloud Storage, "
            "so it must be a gs:// path"
        )


def require_client_library() -> None:
    """Fail in one line when the Vertex AI client library is not installed."""
    if importlib.util.find_spec("google.cloud.aiplatform_v1") is None:
        raise GeocolorError(
            "--platform vertex needs the Vertex AI client library: "
            "pip install 'geocolor-sar[vertex]'"
        )


def timeout_seconds(duration: str) -> int:
    """Seconds in ``30m``, ``24h``, ``2d`` (``--max-run-duration``)."""
    match = _DURATION.fullmatch(duration)
    if match is None:
        raise UsageError(f"--max-run-duration {duration!r}: expected e.g. 90m, 24h or 2d")
    return int(match["value"]) * _SECONDS[match["unit"]]


def accelerator_type(accelerator: Accelerator) -> AcceleratorType:
    """Vertex's enum value for a GPU named as Compute Engine names it (``nvidia-l4``)."""
    from google.cloud.aiplatform_v1.types import AcceleratorType

    name = accelerator.type.upper().replace("-", "_")
    known = [
        member.lower().replace("_", "-")
        for member in AcceleratorType.__members__
        if member.startswith("NVIDIA")
    ]
    if not name.startswith("NVIDIA") or name not in AcceleratorType.__members__:
        raise UsageError(f"--gpu {accelerator.type!r}: Vertex AI offers {', '.join(known)}")
    found: AcceleratorType = getattr(AcceleratorType, name)
    return found


def custom_job(job: VertexJob) -> CustomJob:
    """The CustomJob message :func:`submit` sends (and ``--dry-run`` prints).

    One GPU keeps the image's ``geocolor`` entrypoint; several run the command under
    torchrun (DDP), as on a VM.
    """
    from google.cloud.aiplatform_v1 import types

    gpus = job.accelerator.count if job.accelerator else 1
    command: list[str] = []
    args = list(job.arguments)
    if gpus > 1:
        command = ["torchrun"]
        args = [f"--nproc-per-node={gpus}", "-m", "geocolor.cli", *args]
    env = [types.EnvVar(name=name, value=value) for name, value in job.environment.items()]
    machine = types.MachineSpec(machine_type=job.machine_type)
    if job.accelerator is not None:
        machine.accelerator_type = accelerator_type(job.accelerator)
        machine.accelerator_count = job.accelerator.count
    spec = types.CustomJobSpec(
        worker_pool_specs=[
            types.WorkerPoolSpec(
                machine_spec=machine,
                replica_count=1,
                container_spec=types.ContainerSpec(
                    image_uri=job.image, command=command, args=args, env=env
                ),
            )
        ],
        service_account=job.service_account,
        base_output_directory=types.GcsDestination(output_uri_prefix=job.output_folder),
        scheduling=types.Scheduling(
            timeout=f"{timeout_seconds(job.max_run_duration)}s",
            # a rerun would start training over from its first epoch
            restart_job_on_worker_restart=False,
        ),
    )
    if job.network is not None:
        spec.network = job.network
    return types.CustomJob(
        display_name=job.display_name, job_spec=spec, labels={"geocolor-job": "train"}
    )


def custom_jobs_json(jobs: Sequence[VertexJob]) -> str:
    """The jobs as the REST API's JSON (``--dry-run``): one object, or a list of them."""
    from google.cloud.aiplatform_v1.types import CustomJob

    documents = [json.loads(CustomJob.to_json(custom_job(job))) for job in jobs]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2) + "\n"


def submit(
    jobs: Sequence[VertexJob], uploads: Mapping[str, str], endpoint: str | None = None
) -> list[str]:
    """Upload the files the jobs read, then create the jobs; returns their resource names.

    ``uploads`` maps ``gs://`` paths to their text (configs, search spaces).
    ``endpoint`` overrides the regional API host (``REGION-aiplatform.googleapis.com``);
    an ``http://`` endpoint is a local stand-in for tests.
    """
    import fsspec
    import google.auth
    from google.api_core.exceptions import GoogleAPICallError
    from google.auth.exceptions import DefaultCredentialsError
    from google.cloud.aiplatform_v1 import JobServiceClient

    for path, text in uploads.items():
        with fsspec.open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"]
        )
    except DefaultCredentialsError:
        raise GeocolorError(
            "no Google credentials to submit the Vertex AI job "
            "(run 'gcloud auth application-default login')"
        ) from None
    names = []
    for job in jobs:
        client = JobServiceClient(
            credentials=credentials,
            transport="rest",
            client_options={"api_endpoint": endpoint or f"{job.region}-aiplatform.googleapis.com"},
        )
        try:
            created = client.create_custom_job(parent=job.parent, custom_job=custom_job(job))
        except GoogleAPICallError as exc:
            raise GeocolorError(
                f"Vertex AI refused the job {job.display_name} in {job.parent}: {exc.message}"
            ) from None
        names.append(str(created.name))
    return names
