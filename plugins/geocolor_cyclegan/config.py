"""Hyper-parameters of the CycleGAN backend, on top of the shared adversarial settings.

Every field but ``lambda_paired``, ``lambda_feature_matching`` and ``inverse_scale`` has
the paper's default, so an empty pipeline section trains the published model plus paired
supervision, feature matching and a lighter inverse direction; the widths and depths are
there to make a small model for CPUs and tests.
"""

from __future__ import annotations

import pydantic

from geocolor.models.gan.config import AdversarialConfig


class CycleGANConfig(AdversarialConfig):
    """CycleGAN (Zhu et al. 2017) hyper-parameters; the defaults are the paper's but three.

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
    lambda_paired
        Weight of the masked L1 loss between G(SAR) and the co-registered optical tile
        (supervised CycleGAN: Wang et al. 2019, "SAR-to-Optical Image Translation Using
        Supervised Cycle-Consistent Adversarial Networks", IEEE Access 7). The stores
        geocolor prepares are paired, and without this loss the generator only learns
        *some* optical-looking image; 0 gives the reference, unpaired CycleGAN. 30 was
        chosen on synthetic pairs (small CycleGAN, 6 epochs, val PSNR in dB, high-frequency
        energy of prediction over target): 0: 20.5, 0.68; 10: 21.7-22.2, 0.75; 30: 22.6,
        0.87; 100: 22.1-22.9, 0.77-0.82. Most of the gain, and no blur.
    pool_size
        Generated images kept per discriminator (Shrivastava et al. 2017); 0 disables.
    lambda_feature_matching
        On by default here (pix2pixHD's 10): it paid for itself in
        ``benchmarks/model_quality.py`` (six scenes, 600 CPU-s, seed 0, val PSNR as
        colorize runs it: 39.4 dB without, 40.6 with, pix2pix 40.6), and earlier kept a
        run that diverged without it (seed 1 at reduced size: 33.5 without, 39.1 with).
    inverse_scale
        Width and depth of the optical-to-SAR generator F, and width of the SAR critic,
        as a fraction of G's and of the optical critic's. Only G is exported; F and its
        critic exist for the cycle loss, and with the paired loss they need not match
        G's capacity. 1 gives the paper's symmetric pair. In
        ``benchmarks/model_quality.py`` (ngf 32, 6 blocks) a step costs 0.52 CPU-s
        instead of 0.82, 1.6 times the steps for the same budget, and val PSNR stayed
        within the seeds' spread (seed 1: 39.60 dB symmetric, 39.41 at 0.5; seed 2:
        40.46, 40.98).
    """

    ngf: int = pydantic.Field(default=64, ge=1)
    n_blocks: int = pydantic.Field(default=9, ge=0)
    lambda_cycle: float = pydantic.Field(default=10.0, ge=0)
    lambda_identity: float = pydantic.Field(default=0.5, ge=0)
    lambda_paired: float = pydantic.Field(default=30.0, ge=0)
    pool_size: int = pydantic.Field(default=50, ge=0)
    lambda_feature_matching: float = pydantic.Field(default=10.0, ge=0)
    inverse_scale: float = pydantic.Field(default=0.5, gt=0, le=1)

    def scaled(self, size: int) -> int:
        """``size`` (a width or a block count) in the inverse direction: at least 1 if not 0."""
        return max(round(size * self.inverse_scale), min(size, 1))
