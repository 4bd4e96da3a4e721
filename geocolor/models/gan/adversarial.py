"""What GAN trainers share: networks, optimisers, schedule, state.

A trainer holds its networks by name, the copies used in a training step (wrapped for
DDP when asked), one Adam optimiser over the generators and one over the critics, the
constant-then-linear learning-rate schedule, the moving average of the generator that
is validated and exported, and the checkpoint state of all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from typing import Any

import torch
from torch import nn

from geocolor.models.backend import Batch
from geocolor.models.gan.averaging import WeightAverage
from geocolor.models.gan.config import AdversarialConfig
from geocolor.models.gan.losses import feature_matching, judged_loss
from geocolor.models.gan.optim import adam, set_learning_rate
from geocolor.models.layers import set_norm_mode

GENERATOR = "generator"


def set_requires_grad(networks: Iterable[nn.Module], flag: bool) -> None:
    """Freeze or unfreeze parameters: the generators' update must not touch the critics."""
    for network in networks:
        network.requires_grad_(flag)


class AdversarialTrainer:
    """Base of GAN trainers: a backend ``Trainer`` once a subclass adds ``_optimise``.

    Parameters
    ----------
    networks
        Initialised networks on ``device`` by name; ``"generator"`` is SAR to optical.
    generators, critics
        Names of the networks each optimiser updates.
    config
        Hyper-parameters (learning rate, betas, schedule).
    device
        Where the networks live; batches are moved there.
    """

    def __init__(
        self,
        networks: dict[str, nn.Module],
        generators: Iterable[str],
        critics: Iterable[str],
        config: AdversarialConfig,
        device: torch.device,
    ) -> None:
        self.config = config
        self.device = device
        self._networks = networks
        generators = tuple(generators)
        for name in generators:
            set_norm_mode(networks[name], config.train_norm)
        self._in_step: dict[str, nn.Module] = dict(networks)
        self.generator_optimizer = adam(self._parameters(generators), config)
        self.discriminator_optimizer = adam(self._parameters(critics), config)
        self._average = (
            WeightAverage(networks[GENERATOR], config.ema_decay) if config.ema_decay else None
        )

    def train_step(self, batch: Batch, amp: bool) -> dict[str, torch.Tensor]:
        """One optimisation step of every network, then the generator's average."""
        losses = self._optimise(batch, amp)
        if self._average is not None:
            self._average.update(self._networks[GENERATOR])
        return losses

    def _optimise(self, batch: Batch, amp: bool) -> dict[str, torch.Tensor]:
        """Update the networks on one batch; returns the named losses, detached."""
        raise NotImplementedError

    def _fooling_losses(
        self, critic: nn.Module, fake: torch.Tensor, real: torch.Tensor, valid: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The generator's GAN loss on ``fake``; its feature matching to ``real`` if weighted.

        ``critic`` is frozen (no parameter gradients) and unwrapped: its verdict is only
        a loss for the generators.
        """
        judgement = critic(fake)
        adversarial = judged_loss(judgement, True, valid, self.config.gan_mode)
        if not self.config.lambda_feature_matching:
            return adversarial, None
        with torch.no_grad():
            real_judgement = critic(real)
        return adversarial, feature_matching(judgement, real_judgement, valid)

    def _parameters(self, names: Iterable[str]) -> Iterable[nn.Parameter]:
        return chain.from_iterable(self._networks[name].parameters() for name in names)

    @property
    def generator(self) -> nn.Module:
        """The SAR-to-optical network to validate and export: the average when kept."""
        if self._average is not None:
            return self._average.network
        return self._networks[GENERATOR]

    def networks(self) -> Mapping[str, nn.Module]:
        """Every network by name, unwrapped."""
        return dict(self._networks)

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Use ``wrapper(network)`` in ``train_step`` for every network.

        The generators' adversarial loss calls the critics unwrapped: their parameters
        are frozen there, and a DDP wrapper called in a backward pass that gives its
        parameters no gradient fails its next call, still expecting them.
        """
        self._in_step = {name: wrapper(network) for name, network in self._networks.items()}

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Set the learning rate of the next epoch (constant, then linear decay)."""
        optimizers = [self.generator_optimizer, self.discriminator_optimizer]
        set_learning_rate(optimizers, self.config, epoch + 1, epochs)

    def state_dict(self) -> dict[str, object]:
        """Networks, optimisers (with the scheduled learning rate), average, extra state."""
        return {
            "networks": {name: network.state_dict() for name, network in self._networks.items()},
            "generator_optimizer": self.generator_optimizer.state_dict(),
            "discriminator_optimizer": self.discriminator_optimizer.state_dict(),
            "generator_average": self._average.state_dict() if self._average else None,
            **self._extra_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`; the run then continues as if never interrupted."""
        for name, network in self._networks.items():
            network.load_state_dict(state["networks"][name])
        self.generator_optimizer.load_state_dict(state["generator_optimizer"])
        self.discriminator_optimizer.load_state_dict(state["discriminator_optimizer"])
        if self._average is not None:
            # a checkpoint written without an average starts one at its generator
            average = state.get("generator_average")
            if average:
                self._average.load_state_dict(average)
            else:
                self._average.reset(self._networks[GENERATOR])
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, object]:
        """State a subclass adds to checkpoints (image pools, for instance)."""
        return {}

    def _load_extra_state(self, state: Mapping[str, Any]) -> None:
        """Restore what :meth:`_extra_state` added."""
