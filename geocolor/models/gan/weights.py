"""Weight initialisation of the reference implementation: normal(0, 0.02), zero biases."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_normal(network: nn.Module, gain: float = 0.02) -> None:
    """Initialise every convolution to normal(0, gain) with zero bias.

    The reference trains from this initialisation; PyTorch's default (Kaiming uniform)
    gives larger initial outputs, which destabilises the first GAN updates. The networks
    here have no affine norms, so convolutions are all there is to initialise.
    """
    for module in network.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
