"""CycleGAN training (Zhu et al. 2017): two generators, two discriminators, one step at a time.

G maps SAR to optical and F optical to SAR; D_optical and D_sar tell real from generated
images of their domain. Each step updates both generators on the GAN loss (least
squares by default) plus lambda-weighted cycle consistency (F(G(sar)) ~ sar and
G(F(optical)) ~ optical) and the identity loss when the domains have the same bands, then
both discriminators on real images against generated ones drawn from the image pools.
Losses skip the pixels the batch's ``valid`` mask excludes. The two domains of a batch
stay in their paired order: no loss compares a SAR tile with its optical pair, so the
pairing gives no supervision and shuffling would only cost the shared mask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import torch
from torch import Tensor, nn

from geocolor.backend import Batch
from geocolor.layers import paused_running_stats
from geocolor_cyclegan.config import CycleGANConfig
from geocolor_cyclegan.generator import ResnetGenerator
from geocolor_cyclegan.losses import gan_loss, masked_l1
from geocolor_cyclegan.optim import adam, autocast, set_learning_rate
from geocolor_cyclegan.patchgan import PatchDiscriminator
from geocolor_cyclegan.pool import ImagePool
from geocolor_cyclegan.weights import init_normal

GENERATOR = "generator"
INVERSE = "inverse"
OPTICAL_DISCRIMINATOR = "optical_discriminator"
SAR_DISCRIMINATOR = "sar_discriminator"


def set_requires_grad(networks: Iterable[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze parameters: the generators' update must not touch the critics."""
    for network in networks:
        network.requires_grad_(flag)


class CycleGANTrainer:
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

    def __init__(
        self, in_channels: int, out_channels: int, config: CycleGANConfig, device: torch.device
    ) -> None:
        self.config = config
        self.device = device
        self._networks: dict[str, nn.Module] = {
            GENERATOR: self._generator(in_channels, out_channels),
            INVERSE: self._generator(out_channels, in_channels),
            OPTICAL_DISCRIMINATOR: PatchDiscriminator(out_channels, config.ndf),
            SAR_DISCRIMINATOR: PatchDiscriminator(in_channels, config.ndf),
        }
        for network in self._networks.values():
            init_normal(network, config.init_gain)
            network.to(device)
        self._in_step: dict[str, nn.Module] = dict(self._networks)
        same_bands = in_channels == out_channels
        self.identity_weight = config.lambda_cycle * config.lambda_identity if same_bands else 0.0
        self.generator_optimizer = adam(self._parameters(GENERATOR, INVERSE), config)
        self.discriminator_optimizer = adam(
            self._parameters(OPTICAL_DISCRIMINATOR, SAR_DISCRIMINATOR), config
        )
        optical_seed, sar_seed = torch.randint(2**62, (2,)).tolist()
        self.pools = {
            OPTICAL_DISCRIMINATOR: ImagePool(config.pool_size, optical_seed),
            SAR_DISCRIMINATOR: ImagePool(config.pool_size, sar_seed),
        }

    def _generator(self, in_channels: int, out_channels: int) -> ResnetGenerator:
        config = self.config
        return ResnetGenerator(
            in_channels, out_channels, config.ngf, config.n_blocks, config.upsampling
        )

    def _parameters(self, *names: str) -> Iterable[nn.Parameter]:
        return chain.from_iterable(self._networks[name].parameters() for name in names)

    @property
    def generator(self) -> nn.Module:
        """G, SAR to optical, unwrapped."""
        return self._networks[GENERATOR]

    def networks(self) -> Mapping[str, nn.Module]:
        """G (``generator``), F (``inverse``) and the two discriminators, unwrapped."""
        return dict(self._networks)

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Use ``wrapper(network)`` in :meth:`train_step` for every network.

        The generators' adversarial loss calls the discriminators unwrapped: their
        parameters are frozen there, and a DDP wrapper called in a backward pass that
        gives its parameters no gradient fails its next call, still expecting them.
        """
        self._in_step = {name: wrapper(network) for name, network in self._networks.items()}

    def train_step(self, batch: Batch, amp: bool) -> dict[str, float]:
        """Update G and F, then D_optical and D_sar, on one batch."""
        sar, optical, valid = (batch[key].to(self.device) for key in ("sar", "optical", "valid"))
        generator, inverse = self._in_step[GENERATOR], self._in_step[INVERSE]
        critics = [self._networks[OPTICAL_DISCRIMINATOR], self._networks[SAR_DISCRIMINATOR]]
        mode = self.config.gan_mode

        set_requires_grad(critics, False)
        self.generator_optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, amp):
            fake_optical = generator(sar)
            fake_sar = inverse(optical)
            # The running statistics meant for inference are those of real inputs.
            with (
                paused_running_stats(self.generator),
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
            adversarial = gan_loss(critics[0](fake_optical), True, valid, mode) + gan_loss(
                critics[1](fake_sar), True, valid, mode
            )
        generator_loss = (
            adversarial + self.config.lambda_cycle * cycle + self.identity_weight * identity
        )
        generator_loss.backward()
        self.generator_optimizer.step()

        set_requires_grad(critics, True)
        self.discriminator_optimizer.zero_grad(set_to_none=True)
        discriminator_loss = self._critic_loss(
            OPTICAL_DISCRIMINATOR, optical, fake_optical, valid, amp
        ) + self._critic_loss(SAR_DISCRIMINATOR, sar, fake_sar, valid, amp)
        discriminator_loss.backward()
        self.discriminator_optimizer.step()

        names = ["generator", "adversarial", "cycle", "identity", "discriminator"]
        values = [generator_loss, adversarial, cycle, identity, discriminator_loss]
        if not self.identity_weight:
            del names[3], values[3]
        return dict(zip(names, torch.stack([v.detach() for v in values]).tolist(), strict=True))

    def _critic_loss(
        self, name: str, real: Tensor, fake: Tensor, valid: Tensor, amp: bool
    ) -> Tensor:
        """Half the GAN loss of real images and pooled fakes (each fake keeps its mask)."""
        pooled = self.pools[name].query(torch.cat([fake.detach().float(), valid.float()], dim=1))
        pooled_fake, pooled_valid = pooled[:, :-1], pooled[:, -1:]
        with autocast(self.device, amp):
            scores = self._in_step[name](torch.cat([real, pooled_fake]))
        count = real.shape[0]
        mode = self.config.gan_mode
        return 0.5 * (
            gan_loss(scores[:count], True, valid, mode)
            + gan_loss(scores[count:], False, pooled_valid, mode)
        )

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Set the learning rate of the next epoch (constant, then linear decay)."""
        optimizers = [self.generator_optimizer, self.discriminator_optimizer]
        set_learning_rate(optimizers, self.config, epoch + 1, epochs)

    def state_dict(self) -> dict[str, object]:
        """Networks, optimisers (with the scheduled learning rate) and image pools."""
        return {
            "networks": {name: network.state_dict() for name, network in self._networks.items()},
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
            "pools": {name: pool.state_dict() for name, pool in self.pools.items()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the run then continues as if never interrupted."""
        for name, network in self._networks.items():
            network.load_state_dict(state["networks"][name])
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        for name, pool in self.pools.items():
            pool.load_state_dict(state["pools"][name], self.device)
