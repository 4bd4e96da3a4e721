"""Losses that skip invalid pixels: masked L1, GAN and feature-matching losses.

Invalid pixels (no SAR, clouds or nodata in the optical image) carry no signal to learn
from; averaging only over valid ones keeps a half-empty tile from counting as a
half-solved one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor

from geocolor.models.gan.config import GanMode
from geocolor.models.gan.patchgan import Judgement


def masked_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Mean of ``values`` (B, C, H, W) weighted by ``weights`` (B, 1, H, W); 0 if all zero."""
    total = (values * weights).sum()
    return total / (weights.sum() * values.shape[1]).clamp_min(torch.finfo(total.dtype).tiny)


def masked_l1(prediction: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Mean absolute difference over valid pixels, in float32 whatever autocast did."""
    return masked_mean((prediction.float() - target.float()).abs(), valid.float())


def gan_loss(scores: Tensor, real: bool, valid: Tensor, mode: GanMode) -> Tensor:
    """Discriminator ``scores`` (logits) against the label ``real``, over valid patches.

    The pixel mask is averaged onto the score grid, so each patch weighs by the fraction
    of valid pixels under it (an approximation of its 70x70 footprint).
    """
    scores = scores.float()
    target = torch.full_like(scores, 1.0 if real else 0.0)
    if mode == "lsgan":
        losses = (scores - target).square()
    else:
        losses = F.binary_cross_entropy_with_logits(scores, target, reduction="none")
    weights = F.adaptive_avg_pool2d(valid.float(), (scores.shape[-2], scores.shape[-1]))
    return masked_mean(losses, weights)


def judged_loss(judgement: Judgement, real: bool, valid: Tensor, mode: GanMode) -> Tensor:
    """:func:`gan_loss` of a discriminator's logits, averaged over its scales."""
    losses = [gan_loss(scale[-1], real, valid, mode) for scale in judgement]
    return torch.stack(losses).mean()


def feature_matching(fake: Judgement, real: Judgement, valid: Tensor) -> Tensor:
    """L1 between the discriminator's activations on generated and real images.

    The feature-matching loss of pix2pixHD (Wang et al. 2018): the generator matches the
    statistics the critic sees at every depth, a steadier target than its verdict alone.
    Averaged over scales and layers (logits excluded), each over its valid pixels; the
    real activations are constants.
    """
    losses = []
    for fake_scale, real_scale in zip(fake, real, strict=True):
        for fake_output, real_output in zip(fake_scale[:-1], real_scale[:-1], strict=True):
            size = (fake_output.shape[-2], fake_output.shape[-1])
            weights = F.adaptive_avg_pool2d(valid.float(), size)
            difference = (fake_output.float() - real_output.detach().float()).abs()
            losses.append(masked_mean(difference, weights))
    return torch.stack(losses).mean()
