"""Adam, the constant-then-linear learning-rate schedule, and bf16 autocast.

The schedule is a pure function of the epoch, so a resumed run needs no scheduler
state: the current learning rate travels in the optimiser's state dict.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import torch
from torch import nn

from geocolor.models.gan.config import AdversarialConfig


def adam(parameters: Iterable[nn.Parameter], config: AdversarialConfig) -> torch.optim.Adam:
    """Adam with the configured rate and betas."""
    return torch.optim.Adam(parameters, lr=config.lr, betas=(config.beta1, config.beta2))


def decay_factor(epoch: int, epochs: int, decay_start: float) -> float:
    """Learning-rate multiplier during ``epoch`` (0-based) of ``epochs``.

    1 for the first ``decay_start`` of the epochs, then linear steps that would reach 0
    one epoch after the last, as in the reference (1 - 1/101, ..., 1/101 for 100 + 100).
    """
    constant = int(decay_start * epochs)
    return min(1.0, max(0.0, (epochs - epoch) / (epochs - constant + 1)))


def set_learning_rate(
    optimizers: Iterable[torch.optim.Optimizer], config: AdversarialConfig, epoch: int, epochs: int
) -> None:
    """Set every optimiser's rate for the coming ``epoch`` (0-based) of ``epochs``."""
    rate = config.lr * decay_factor(epoch, epochs, config.decay_start)
    for optimizer in optimizers:
        for group in optimizer.param_groups:
            group["lr"] = rate


def autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager[object]:
    """bf16 autocast on CUDA when ``amp`` is on; no-op elsewhere.

    bf16 has float32's exponent range, so gradients cannot underflow and no GradScaler
    is needed.
    """
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
