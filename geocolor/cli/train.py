"""``geocolor train``, ``geocolor evaluate`` and ``geocolor models``: training and the registry."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, cast, get_args

import click
import yaml

from geocolor.config import load_config
from geocolor.io.outputs import check_output
from geocolor.models.model_registry import check_alias, list_versions, promote
from geocolor.models.tracking import check_reachable
from geocolor.prepare.tiling import Split
from geocolor.train.evaluation import evaluate_model, promotion_refusal
from geocolor.train.loop import train
from geocolor.train.metrics import DEFAULT_DATA_RANGE, METRICS
from geocolor.train.run_config import Metric, TrainConfig


def _backend_options(pairs: Sequence[str], lr: float | None) -> dict[str, Any]:
    """``KEY=VALUE`` pairs, each VALUE read as YAML (``-O ngf=32 -O upsampling=bilinear``)."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--backend-option")
        options[key.strip()] = yaml.safe_load(value)
    return {**options, "lr": lr}


@click.command("train")
@click.argument("store")
@click.option("--config", "config_path", default=None, help="Pipeline YAML (pipelines/train.yaml).")
@click.option("--backend", default=None, help="Model backend by registered name (cyclegan).")
@click.option("--epochs", type=int, default=None, help="Epochs to train (20).")
@click.option("--steps-per-epoch", type=int, default=None, help="Cap on steps per epoch.")
@click.option("--batch-size", type=int, default=None, help="Tiles per step and process (4).")
@click.option("--tile-size", type=int, default=None, help="Random crop of each tile, pixels.")
@click.option("--num-workers", type=int, default=None, help="DataLoader worker processes (2).")
@click.option("--seed", type=int, default=None, help="Seed of every random draw (0).")
@click.option("--model-name", default=None, help="Registered model name (geocolor).")
@click.option("--experiment", default=None, help="MLflow experiment (geocolor).")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (auto).")
@click.option("--amp/--no-amp", default=None, help="Mixed precision on CUDA (on).")
@click.option(
    "--channels-last/--no-channels-last",
    default=None,
    help="NHWC networks and batches, for GPU tensor cores (off).",
)
@click.option(
    "--compile/--no-compile",
    "compile",
    default=None,
    help="torch.compile the networks of a training step (off).",
)
@click.option("--checkpoint-dir", default=None, help="Folder of per-run checkpoints.")
@click.option("--lr", type=float, default=None, help="Learning rate (the backend's lr option).")
@click.option(
    "-O",
    "--backend-option",
    "backend_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="A backend option, VALUE read as YAML (repeatable).",
)
@click.option("--resume", default=None, help="Checkpoint to continue, in its MLflow run.")
@click.option(
    "--promote-if-better",
    default=None,
    metavar="ALIAS",
    help="Move ALIAS to the new version if it beats the current holder.",
)
@click.option(
    "--metric",
    type=click.Choice(get_args(Metric)),
    default=None,
    help="Metric that decides --promote-if-better (psnr).",
)
def train_command(
    store: str,
    config_path: str | None,
    resume: str | None,
    lr: float | None,
    backend_option: tuple[str, ...],
    **options: Any,
) -> None:
    """Train a model on a prepared STORE, log it to MLflow and register it.

    Prints the registered model's URI (models:/NAME/VERSION) last. Under torchrun every
    process trains; only the first logs and prints.
    """
    overrides = {**options, "backend_options": _backend_options(backend_option, lr)}
    config = load_config(TrainConfig, config_path, overrides)
    check_output(config.checkpoint_dir, [store, resume, config_path], "folder", "--checkpoint-dir")
    if config.promote_if_better:
        check_alias(config.promote_if_better)
    check_reachable()
    result = train(store, config, resume=resume)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for name, value in sorted(result.metrics.items()):
        click.echo(f"val_{name} {value:.4f}")
    if config.promote_if_better:
        verdict = "moved to" if result.promoted else "not moved to"
        refusal = promotion_refusal(result.metrics)
        reason = f": {refusal}" if refusal and not result.promoted else ""
        click.echo(
            f"alias {config.promote_if_better} {verdict} version {result.model_version}{reason}"
        )
    click.echo(result.model_uri)


@click.command("evaluate")
@click.argument("model_uri")
@click.argument("store")
@click.option(
    "--split",
    type=click.Choice([split.name.lower() for split in Split]),
    default="test",
    show_default=True,
    help="Store split to score.",
)
@click.option("--max-tiles", type=int, default=None, help="Score at most this many tiles.")
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option(
    "--data-range",
    type=float,
    default=DEFAULT_DATA_RANGE,
    show_default=True,
    help="Reflectance span of PSNR and SSIM.",
)
@click.option("--device", default="auto", show_default=True)
@click.option("--experiment", default="geocolor", show_default=True, help="MLflow experiment.")
def evaluate_command(
    model_uri: str,
    store: str,
    split: str,
    max_tiles: int | None,
    batch_size: int,
    data_range: float,
    device: str,
    experiment: str,
) -> None:
    """Score MODEL_URI on a split of STORE and log the scores as an MLflow run.

    MODEL_URI is models:/NAME@ALIAS, models:/NAME/VERSION, runs:/RUN_ID/model or a path.
    The model runs as colorize runs it (scene statistics); the mean-colour and linear
    baselines, fitted on the train split, are scored beside it, and the skill (PSNR
    above the linear baseline's).
    """
    run_id, metrics = evaluate_model(
        model_uri,
        store,
        Split[split.upper()],
        max_tiles=max_tiles,
        batch_size=batch_size,
        data_range=data_range,
        device=device,
        experiment=experiment,
    )
    for name, value in metrics.items():
        click.echo(f"{split}_{name} {value:.4f}")
    click.echo(f"run {run_id}")


@click.group("models")
def models_group() -> None:
    """Registered models: list versions, move aliases."""


@models_group.command("list")
@click.argument("name", required=False)
def list_command(name: str | None) -> None:
    """Versions of model NAME (or of every model): aliases, backend and validation metrics.

    VAL_SKILL is the PSNR above the per-pixel linear baseline's (dB); below zero the
    model has learnt less than that regression.
    """
    rows = list_versions(name)
    if not rows:
        click.echo("no registered models")
        return
    metric_names = [f"val_{metric}" for metric in (*METRICS, "skill")]
    table = [["NAME", "VERSION", "ALIASES", "BACKEND", *(m.upper() for m in metric_names)]]
    for row in rows:
        values = [row.metrics.get(metric) for metric in metric_names]
        table.append(
            [
                row.info.name,
                row.info.version,
                ",".join(row.info.aliases) or "-",
                row.info.tags.get("backend", "-"),
                *("-" if value is None else f"{value:.4g}" for value in values),
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


@models_group.command("promote")
@click.argument("name")
@click.argument("version")
@click.option("--alias", required=True, help="Alias to point at VERSION (e.g. production).")
def promote_command(name: str, version: str, alias: str) -> None:
    """Point ALIAS of model NAME at VERSION, moving it from any other version."""
    promote(name, version, alias)
    click.echo(f"models:/{name}@{alias} -> version {version}")


@models_group.command("export")
@click.argument("model_uri")
@click.option(
    "--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True, help="File type."
)
@click.option("-o", "--output", required=True, help="File to write.")
@click.option(
    "--norm",
    type=click.Choice(["frozen", "tile"]),
    default="frozen",
    show_default=True,
    help="Norm statistics: the training data's, fixed (for models trained on batch "
    "statistics, the default), or each input's own (for train_norm: tile).",
)
def export_command(model_uri: str, fmt: str, output: str, norm: str) -> None:
    """Write MODEL_URI's generator as an ONNX or TorchScript file, normalisation embedded.

    The export is checked against the model on a random window; prints the file and the
    largest difference found.
    """
    from pathlib import Path

    from geocolor.models.export import ExportFormat, export_model
    from geocolor.models.layers import NormMode
    from geocolor.models.logged import load_model

    model = load_model(model_uri)
    difference = export_model(
        model, cast("ExportFormat", fmt), Path(output), cast("NormMode", norm)
    )
    click.echo(f"{output} (max abs difference {difference:.2g} on a random window)")
