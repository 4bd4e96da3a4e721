"""Tiny logged models for inference tests: real MLflow registrations, no training.

A randomly initialised CycleGAN generator of a few channels colorizes as a trained one
does (same code path, same artifacts), which is what ``colorize`` and the app need.
"""

from __future__ import annotations

from pathlib import Path

import mlflow

from geocolor.models.drift import DriftReference
from geocolor.models.logged import ModelSpec, log_generator, register_generator
from geocolor.models.normalisation import Normalisation
from geocolor.plugins.manager import get_plugins

#: The normalisation of a dual-pol model with the usual RGB bands.
NORMALISATION = Normalisation(
    sar_bands=("VV sigma0 dB", "VH sigma0 dB"),
    sar_low=(-25.0, -32.0),
    sar_high=(5.0, -5.0),
    optical_bands=("B02", "B03", "B04"),
    optical_low=(0.0, 0.0, 0.0),
    optical_high=(0.3, 0.3, 0.3),
)


def log_tiny_model(
    tracking_uri: str,
    name: str = "geocolor",
    alias: str | None = "prod-candidate",
    backend: str = "cyclegan",
    options: dict[str, object] | None = None,
    normalisation: Normalisation = NORMALISATION,
    drift_reference: DriftReference | None = None,
) -> str:
    """Register an untrained small generator as a new version of ``name``; its URI.

    Returns ``models:/NAME@ALIAS`` when ``alias`` is given, else ``models:/NAME/VERSION``.
    """
    mlflow.set_tracking_uri(tracking_uri)
    experiment_id = None
    if tracking_uri.startswith("sqlite:///"):
        # artifacts beside the database, not in ./mlruns of whatever folder the test runs in
        artifacts = Path(tracking_uri.removeprefix("sqlite:///")).parent / "artifacts"
        experiment = mlflow.get_experiment_by_name("tiny-models")
        experiment_id = (
            experiment.experiment_id
            if experiment
            else mlflow.create_experiment("tiny-models", artifact_location=artifacts.as_uri())
        )
    registered = get_plugins().backends.get(backend)
    config = registered.config_type.model_validate(options or {"ngf": 4, "n_blocks": 1})
    in_channels, out_channels = len(normalisation.sar_bands), len(normalisation.optical_bands)
    generator = registered.build_generator(in_channels, out_channels, config)
    spec = ModelSpec(
        backend,
        config.model_dump(mode="json"),
        in_channels,
        out_channels,
        normalisation,
        drift_reference=drift_reference,
    )
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.log_metric("val_psnr", 12.5)
        version = register_generator(log_generator(generator, spec), name, {"backend": backend})
    if alias is None:
        return f"models:/{name}/{version}"
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
    return f"models:/{name}@{alias}"
