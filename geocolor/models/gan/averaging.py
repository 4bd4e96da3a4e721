"""An exponential moving average of the generator's weights, the network a GAN run exports.

A GAN's generator does not converge to a point: the adversarial game keeps its weights
circling, so the network at the last step is one sample of an orbit, and which sample
moves validation PSNR by a decibel from seed to seed. The average of the recent weights
sits near the orbit's centre (Yazici et al. 2019, "The Unusual Effectiveness of
Averaging in GAN Training", ICLR; Karras et al. 2018 for progressive GANs). The decay
warms up as in TensorFlow's ``ExponentialMovingAverage`` with ``num_updates``, so a
short run averages about its last tenth and a long one its last ``1 / (1 - decay)``
steps.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class WeightAverage:
    """The averaged copy of a network, updated after each optimiser step.

    Parameters
    ----------
    network
        The live network; its copy starts at its weights and keeps its norm modes.
    decay
        The most weight the average keeps per step, in (0, 1).
    """

    def __init__(self, network: nn.Module, decay: float) -> None:
        self.network = copy.deepcopy(network).requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, live: nn.Module) -> None:
        """Move the average towards ``live``; buffers (running statistics) are copied."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        averaged: list[torch.Tensor] = list(self.network.parameters())
        torch._foreach_lerp_(averaged, [p.detach() for p in live.parameters()], 1 - decay)
        for kept, current in zip(self.network.buffers(), live.buffers(), strict=True):
            kept.copy_(current)

    def reset(self, live: nn.Module) -> None:
        """Start the average again at ``live``'s weights."""
        self.network.load_state_dict(live.state_dict())
        self.updates = 0

    def state_dict(self) -> dict[str, Any]:
        """The averaged weights and the update count the warm-up depends on."""
        return {"network": self.network.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.network.load_state_dict(state["network"])
        self.updates = int(state["updates"])
