"""pix2pix training (Isola et al. 2017): a U-Net and a conditional PatchGAN, one step at a time.

The discriminator judges (SAR, optical) pairs, real or generated, so it learns whether
the colours fit the radar, not only whether they look optical; the generator minimises
the GAN loss plus ``lambda_l1`` times the L1 distance to the paired optical image, over
valid pixels. Each step updates the discriminator first, then the generator against the
updated discriminator, as the reference does.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geocolor.models.backend import Batch
from geocolor.models.gan.adversarial import GENERATOR, AdversarialTrainer, set_requires_grad
from geocolor.models.gan.losses import judged_loss, masked_l1
from geocolor.models.gan.optim import autocast
from geocolor.models.gan.patchgan import PatchDiscriminator, split_batch
from geocolor.models.gan.weights import init_normal
from geocolor_pix2pix.config import Pix2PixConfig
from geocolor_pix2pix.unet import UNetGenerator

DISCRIMINATOR = "discriminator"


def build_unet(in_channels: int, out_channels: int, config: Pix2PixConfig) -> UNetGenerator:
    """The configured U-Net, initialised normal(0, init_gain)."""
    generator = UNetGenerator(
        in_channels,
        out_channels,
        config.ngf,
        config.depth,
        config.dropout,
        config.dropout_blocks,
        config.upsampling,
    )
    init_normal(generator, config.init_gain)
    return generator


class Pix2PixTrainer(AdversarialTrainer):
    """Generator, discriminator and their optimisers for one pix2pix run (a ``Trainer``).

    Parameters
    ----------
    in_channels, out_channels
        SAR and optical bands.
    config
        Hyper-parameters.
    device
        Where the networks live; batches are moved there.
    """

    config: Pix2PixConfig

    def __init__(
        self, in_channels: int, out_channels: int, config: Pix2PixConfig, device: torch.device
    ) -> None:
        discriminator = PatchDiscriminator(
            in_channels + out_channels, config.ndf, config.discriminator_scales
        )
        init_normal(discriminator, config.init_gain)
        networks: dict[str, nn.Module] = {
            GENERATOR: build_unet(in_channels, out_channels, config).to(device),
            DISCRIMINATOR: discriminator.to(device),
        }
        super().__init__(networks, (GENERATOR,), (DISCRIMINATOR,), config, device)

    def _optimise(self, batch: Batch, amp: bool) -> dict[str, Tensor]:
        """Update the discriminator, then the generator, on one paired batch."""
        sar, optical, valid = (batch[key].to(self.device) for key in ("sar", "optical", "valid"))
        critic = self._networks[DISCRIMINATOR]
        mode = self.config.gan_mode
        with autocast(self.device, amp):
            fake = self._in_step[GENERATOR](sar)

        self.discriminator_optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, amp):
            pairs = torch.cat([torch.cat([sar, optical], 1), torch.cat([sar, fake.detach()], 1)])
            judgement = self._in_step[DISCRIMINATOR](pairs)
        on_real, on_fake = split_batch(judgement, sar.shape[0])
        discriminator_loss = 0.5 * (
            judged_loss(on_real, True, valid, mode) + judged_loss(on_fake, False, valid, mode)
        )
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        set_requires_grad([critic], False)
        self.generator_optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, amp):
            adversarial, matching = self._fooling_losses(
                critic, torch.cat([sar, fake], 1), torch.cat([sar, optical], 1), valid
            )
        l1 = masked_l1(fake, optical, valid)
        generator_loss = adversarial + self.config.lambda_l1 * l1
        if matching is not None:
            generator_loss = generator_loss + self.config.lambda_feature_matching * matching
        generator_loss.backward()
        self.generator_optimizer.step()
        set_requires_grad([critic], True)

        losses = {
            "generator": generator_loss,
            "adversarial": adversarial,
            "l1": l1,
            "discriminator": discriminator_loss,
        }
        if matching is not None:
            losses["feature_matching"] = matching
        # tensors, not floats: reading them would wait for the GPU at every step
        return {name: loss.detach() for name, loss in losses.items()}
