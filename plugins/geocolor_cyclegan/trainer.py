"""CycleGAN training (Zhu et al. 2017): two generators, two discriminators, one step at a time.

G maps SAR to optical and F optical to SAR; D_optical and D_sar tell real from generated
images of their domain. Each step updates both generators on the GAN loss (least
squares by default) plus lambda-weighted cycle consistency (F(G(sar)) ~ sar and
G(F(optical)) ~ optical), the identity loss when the domains have the same bands, and the
paired L1 loss G(sar) ~ optical of the supervised CycleGAN (Wang et al. 2019), then both
discriminators on real images against generated ones drawn from the image pools.
Losses skip the pixels the batch's ``valid`` mask excludes. The two domains of a batch
stay in their paired order, which the paired loss needs. Losses are returned as tensors,
so that a step never waits for the GPU; the driver reads them when it logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from geocolor.models.backend import Batch
from geocolor.models.gan.adversarial import GENERATOR, AdversarialTrainer, set_requires_grad
from geocolor.models.gan.losses import judged_loss, masked_l1
from geocolor.models.gan.optim import autocast
from geocolor.models.gan.patchgan import PatchDiscriminator, split_batch
from geocolor.models.gan.weights import init_normal
from geocolor.models.layers import paused_running_stats
from geocolor_cyclegan.config import CycleGANConfig
from geocolor_cyclegan.generator import ResnetGenerator
from geocolor_cyclegan.pool import ImagePool

INVERSE = "inverse"
OPTICAL_DISCRIMINATOR = "optical_discriminator"
SAR_DISCRIMINATOR = "sar_discriminator"


class CycleGANTrainer(AdversarialTrainer):
    """Networks, optimisers and image pools of one CycleGAN run (a backend ``Trainer``).

    Parameters
    ----------
    in_channels, out_channels
        SAR and optical bands.
    config
        Hyper-parameters.
    device
        Where the networks live; batches are moved there.
    """

    config: CycleGANConfig

    def __init__(
        self, in_channels: int, out_channels: int, config: CycleGANConfig, device: torch.device
    ) -> None:
        networks: dict[str, nn.Module] = {
            GENERATOR: ResnetGenerator(
                in_channels, out_channels, config.ngf, config.n_blocks, config.upsampling
            ),
            INVERSE: ResnetGenerator(
                out_channels,
                in_channels,
                config.scaled(config.ngf),
                config.scaled(config.n_blocks),
                config.upsampling,
            ),
            OPTICAL_DISCRIMINATOR: PatchDiscriminator(
                out_channels, config.ndf, config.discriminator_scales
            ),
            SAR_DISCRIMINATOR: PatchDiscriminator(
                in_channels, config.scaled(config.ndf), config.discriminator_scales
            ),
        }
        for network in networks.values():
            init_normal(network, config.init_gain)
            network.to(device)
        super().__init__(
            networks,
            (GENERATOR, INVERSE),
            (OPTICAL_DISCRIMINATOR, SAR_DISCRIMINATOR),
            config,
            device,
        )
        same_bands = in_channels == out_channels
        #: lambda_identity as trained: 0 when the domains' bands differ.
        self.lambda_identity = config.lambda_identity if same_bands else 0.0
        self.identity_weight = config.lambda_cycle * self.lambda_identity
        optical_seed, sar_seed = torch.randint(2**62, (2,)).tolist()
        self.pools = {
            OPTICAL_DISCRIMINATOR: ImagePool(config.pool_size, optical_seed),
            SAR_DISCRIMINATOR: ImagePool(config.pool_size, sar_seed),
        }

    def effective_options(self) -> dict[str, object]:
        """Options whose trained value differs from the configured one (the identity loss)."""
        return {"lambda_identity": self.lambda_identity}

    def _optimise(self, batch: Batch, amp: bool) -> dict[str, Tensor]:
        """Update G and F, then D_optical and D_sar, on one batch."""
        sar, optical, valid = (batch[key].to(self.device) for key in ("sar", "optical", "valid"))
        generator, inverse = self._in_step[GENERATOR], self._in_step[INVERSE]
        critics = [self._networks[OPTICAL_DISCRIMINATOR], self._networks[SAR_DISCRIMINATOR]]

        set_requires_grad(critics, False)
        self.generator_optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, amp):
            fake_optical = generator(sar)
            fake_sar = inverse(optical)
            # The running statistics meant for inference are those of real inputs.
            with (
                paused_running_stats(self._networks[GENERATOR]),
                paused_running_stats(self._networks[INVERSE]),
            ):
                cycle = masked_l1(inverse(fake_optical), sar, valid) + masked_l1(
                    generator(fake_sar), optical, valid
                )
                identity = (
                    masked_l1(generator(optical), optical, valid)
                    + masked_l1(inverse(sar), sar, valid)
                    if self.identity_weight
                    else torch.zeros((), device=self.device)
                )
            fooling_optical, matching_optical = self._fooling_losses(
                critics[0], fake_optical, optical, valid
            )
            fooling_sar, matching_sar = self._fooling_losses(critics[1], fake_sar, sar, valid)
        adversarial = fooling_optical + fooling_sar
        paired = masked_l1(fake_optical, optical, valid)
        generator_loss = (
            adversarial
            + self.config.lambda_cycle * cycle
            + self.identity_weight * identity
            + self.config.lambda_paired * paired
        )
        matching = None
        if matching_optical is not None and matching_sar is not None:
            matching = matching_optical + matching_sar
            generator_loss = generator_loss + self.config.lambda_feature_matching * matching
        generator_loss.backward()
        self.generator_optimizer.step()

        set_requires_grad(critics, True)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss = self._critic_loss(
            OPTICAL_DISCRIMINATOR, optical, fake_optical, valid, amp
        ) + self._critic_loss(SAR_DISCRIMINATOR, sar, fake_sar, valid, amp)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        losses = {
            "generator": generator_loss,
            "adversarial": adversarial,
            "cycle": cycle,
            "identity": identity,
            "paired": paired,
            "discriminator": discriminator_loss,
        }
        if not self.identity_weight:
            del losses["identity"]
        if matching is not None:
            losses["feature_matching"] = matching
        return {name: loss.detach() for name, loss in losses.items()}

    def _critic_loss(
        self, name: str, real: Tensor, fake: Tensor, valid: Tensor, amp: bool
    ) -> Tensor:
        """Half the GAN loss of real images and pooled fakes (each fake keeps its mask)."""
        pooled = self.pools[name].query(torch.cat([fake.detach().float(), valid.float()], dim=1))
        pooled_fake, pooled_valid = pooled[:, :-1], pooled[:, -1:]
        with autocast(self.device, amp):
            judgement = self._in_step[name](torch.cat([real, pooled_fake]))
        on_real, on_fake = split_batch(judgement, real.shape[0])
        mode = self.config.gan_mode
        return 0.5 * (
            judged_loss(on_real, True, valid, mode)
            + judged_loss(on_fake, False, pooled_valid, mode)
        )

    def _extra_state(self) -> dict[str, object]:
        return {"pools": {name: pool.state_dict() for name, pool in self.pools.items()}}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        for name, pool in self.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
