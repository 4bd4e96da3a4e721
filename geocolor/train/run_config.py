"""What ``geocolor train`` can be told: the keys of ``pipelines/train.yaml``.

Kept apart from the loop so that reading or checking a configuration (the CLI, the GCE
launcher) imports neither torch nor MLflow.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from geocolor.config import Config

#: Validation metrics a promotion can be decided on.
Metric = Literal["psnr", "ssim", "sam", "l1"]


class TrainConfig(Config):
    """Everything ``geocolor train`` can be told (keys of ``pipelines/train.yaml``).

    ``amp`` (bf16 autocast), ``channels_last`` (NHWC networks and batches, which tensor
    cores prefer) and ``compile`` (``torch.compile`` of the networks a training step
    runs) only change speed; the last two pay on GPUs and are off by default.

    ``batch_by_scene`` draws each training batch from the tiles of one scene (store
    pair): generators whose norm layers train on batch statistics then learn with a
    sample of the statistics ``colorize`` pools over a scene, rather than statistics of
    several scenes mixed, which no inference run sees.
    """

    backend: str = "cyclegan"
    backend_options: dict[str, Any] = pydantic.Field(default_factory=dict)
    epochs: int = pydantic.Field(default=20, ge=1)
    steps_per_epoch: int | None = pydantic.Field(default=None, ge=1)
    batch_size: int = pydantic.Field(default=4, ge=1)
    batch_by_scene: bool = True
    tile_size: int | None = pydantic.Field(default=None, ge=8)
    num_workers: int = pydantic.Field(default=2, ge=0)
    seed: int = 0
    model_name: str = "geocolor"
    experiment: str = "geocolor"
    amp: bool = True
    channels_last: bool = False
    compile: bool = False
    device: str = "auto"
    log_every: int = pydantic.Field(default=50, ge=1)
    checkpoint_dir: str = "checkpoints"
    val_max_tiles: int | None = pydantic.Field(default=64, ge=1)
    normalisation_tiles: int = pydantic.Field(default=64, ge=1)
    percentiles: tuple[float, float] = (1.0, 99.0)
    promote_if_better: str | None = None
    metric: Metric = "psnr"
    #: Reflectance span of PSNR and SSIM: a declared physical scale, not the data's.
    data_range: float = pydantic.Field(default=1.0, gt=0)
