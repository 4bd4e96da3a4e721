"""Settings every GAN backend shares, and the check that a backend got its own config.

Every field but ``train_norm`` and ``ema_decay`` has the papers' default, so an empty
pipeline section trains the published models, with the norm statistics inference uses
and an averaged generator. Pydantic only: a plugin's registering module imports this
without torch.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import pydantic

from geocolor.config import Config, Upsampling

GanMode = Literal["lsgan", "vanilla"]
#: Statistics the generators' norm layers train with (see ``geocolor.models.layers``).
TrainNorm = Literal["batch", "tile"]


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
    discriminator_scales
        PatchGANs per discriminator, each on the image halved once more (pix2pixHD,
        Wang et al. 2018); 1 is the papers' single 70x70 PatchGAN.
    lambda_feature_matching
        Weight of pix2pixHD's feature-matching loss on the discriminators' activations
        (10 there); 0 disables it.
    train_norm
        Statistics of the generators' norm layers in training: ``"batch"``, pooled over
        each batch, the rule ``colorize`` applies to a scene's tiles, or ``"tile"``, each
        crop's own (the papers' instance norm, which inference with scene statistics
        then contradicts: a crop's absolute level never reaches the network).
    ema_decay
        Most weight kept per step by the exponential moving average of the generator's
        weights, which is what validation scores and the run registers
        (``geocolor.models.gan.averaging``); 0 keeps the last step's generator, as the
        papers do. In ``benchmarks/model_quality.py`` it steadied validation: over
        the second half of a run, epoch-to-epoch val PSNR varied by 0.19-0.26 dB (standard
        deviation) instead of 0.44-1.29, and the final score moved by -0.07 to +0.27 dB.
    """

    ndf: int = pydantic.Field(default=64, ge=1)
    gan_mode: GanMode = "lsgan"
    lr: float = pydantic.Field(default=2e-4, gt=0)
    beta1: float = pydantic.Field(default=0.5, ge=0, lt=1)
    beta2: float = pydantic.Field(default=0.999, ge=0, lt=1)
    decay_start: float = pydantic.Field(default=0.5, ge=0, le=1)
    upsampling: Upsampling = "nearest"
    init_gain: float = pydantic.Field(default=0.02, gt=0)
    discriminator_scales: int = pydantic.Field(default=1, ge=1)
    lambda_feature_matching: float = pydantic.Field(default=0.0, ge=0)
    train_norm: TrainNorm = "batch"
    ema_decay: float = pydantic.Field(default=0.999, ge=0, lt=1)


def expect_config(config: Config, kind: type[C], backend: str) -> C:
    """The driver builds a backend's config from its ``config_type``; check it did."""
    if not isinstance(config, kind):
        raise TypeError(
            f"the {backend} backend needs a {kind.__name__}, got {type(config).__name__}"
        )
    return config
