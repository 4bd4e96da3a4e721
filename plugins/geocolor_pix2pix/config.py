"""Hyper-parameters of the pix2pix backend; the defaults are the paper's."""

from __future__ import annotations

import pydantic

from geocolor.models.gan.config import AdversarialConfig, GanMode


class Pix2PixConfig(AdversarialConfig):
    """pix2pix (Isola et al. 2017) hyper-parameters.

    Attributes
    ----------
    ngf
        Width of the U-Net's first layer (doubling to at most 8 ngf).
    depth
        Downsamplings of the U-Net: 8 takes a 256-px tile to 1 px. Tile sides must be
        multiples of 2**depth, so 64-px tiles need a depth of at most 6.
    dropout, dropout_blocks
        Dropout rate in the decoder blocks just above the bottleneck, and how many of
        them (0.5 in three blocks, as the reference).
    lambda_l1
        Weight of the L1 loss to the paired optical image.
    gan_mode
        ``"vanilla"`` (the paper's cross-entropy, the default) or ``"lsgan"``.
    """

    ngf: int = pydantic.Field(default=64, ge=1)
    depth: int = pydantic.Field(default=8, ge=1)
    dropout: float = pydantic.Field(default=0.5, ge=0, lt=1)
    dropout_blocks: int = pydantic.Field(default=3, ge=0)
    lambda_l1: float = pydantic.Field(default=100.0, ge=0)
    gan_mode: GanMode = "vanilla"
