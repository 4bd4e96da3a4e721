"""Hyper-parameters of the CycleGAN backend, and the adversarial settings pix2pix shares.

Every field has the papers' default, so an empty pipeline section trains the published
models; the widths and depths are there to make a small model for CPUs and tests.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import pydantic

from geocolor.config import Config, Upsampling

GanMode = Literal["lsgan", "vanilla"]


C = TypeVar("C", bound=Config)


class AdversarialConfig(Config):
    """Discriminator, optimiser and schedule settings of the GAN backends.

    Attributes
    ----------
    ndf
        Width of the 70x70 PatchGAN's first layer (C64-C128-C256-C512 at 64).
    gan_mode
        ``"lsgan"``: least squares (Mao et al. 2017); ``"vanilla"``: the original
        cross-entropy GAN loss.
    lr, beta1, beta2
        Adam, as both papers: the low ``beta1`` keeps the adversarial game stable.
    decay_start
        Fraction of the epochs trained at constant learning rate; after it the rate falls
        linearly to zero at the end of the last epoch (100 + 100 epochs in the papers).
    upsampling
        Interpolation of the generator's resize-convolutions.
    init_gain
        Standard deviation of the normal(0, gain) weight initialisation.
    """

    ndf: int = pydantic.Field(default=64, ge=1)
    gan_mode: GanMode = "lsgan"
    lr: float = pydantic.Field(default=2e-4, gt=0)
    beta1: float = pydantic.Field(default=0.5, ge=0, lt=1)
    beta2: float = pydantic.Field(default=0.999, ge=0, lt=1)
    decay_start: float = pydantic.Field(default=0.5, ge=0, le=1)
    upsampling: Upsampling = "nearest"
    init_gain: float = pydantic.Field(default=0.02, gt=0)


class CycleGANConfig(AdversarialConfig):
    """CycleGAN (Zhu et al. 2017) hyper-parameters; the defaults are the paper's.

    Attributes
    ----------
    ngf
        Width of the generator's first layer.
    n_blocks
        Residual blocks of the ResNet generator (9 for 256-px tiles).
    lambda_cycle
        Weight of each cycle-consistency L1 loss (lambda_A = lambda_B).
    lambda_identity
        Identity-loss weight relative to ``lambda_cycle``. The identity loss feeds each
        generator an image of its output domain, which only type-checks when the two
        domains have the same channels; SAR (two polarisations) to optical (three bands)
        does not, so the loss is disabled whenever the channel counts differ.
    pool_size
        Generated images kept per discriminator (Shrivastava et al. 2017); 0 disables.
    """

    ngf: int = pydantic.Field(default=64, ge=1)
    n_blocks: int = pydantic.Field(default=9, ge=0)
    lambda_cycle: float = pydantic.Field(default=10.0, ge=0)
    lambda_identity: float = pydantic.Field(default=0.5, ge=0)
    pool_size: int = pydantic.Field(default=50, ge=0)


def expect_config(config: Config, kind: type[C], backend: str) -> C:
    """The driver builds a backend's config from its ``config_type``; check it did."""
    if not isinstance(config, kind):
        raise TypeError(
            f"the {backend} backend needs a {kind.__name__}, got {type(config).__name__}"
        )
    return config
