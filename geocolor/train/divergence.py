"""Stop a run whose losses or weights went non-finite, before it checkpoints or registers.

One NaN gradient makes every weight NaN at the next Adam step, and from then on each
loss is NaN too; a run that goes on validates, checkpoints and registers a model that
colorizes nothing. Each step's losses leave one flag per loss on the device; the flags
are read where the losses are (at log points and an epoch's end), so a step never waits
for the GPU, and the first bad step is still named exactly. Weights are checked once an
epoch, before the checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from geocolor.errors import GeocolorError


class DivergedError(GeocolorError):
    """Training produced a non-finite loss or weight."""


class LossWatch:
    """The finiteness of every loss of the steps since the last :meth:`check`.

    Parameters
    ----------
    device
        Where the flags stay until read: the device the losses are on.
    """

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._steps: list[int] = []
        self._flags: list[Tensor] = []
        self._names: list[str] = []

    def add(self, step: int, losses: Mapping[str, Tensor | float]) -> None:
        """Record step ``step``'s ``losses`` without reading them."""
        self._names = list(losses)
        self._steps.append(step)
        values = [torch.as_tensor(loss, device=self._device) for loss in losses.values()]
        self._flags.append(torch.stack([torch.isfinite(value).all() for value in values]))

    def check(self) -> None:
        """Raise :class:`DivergedError` naming the first step with a non-finite loss."""
        if not self._flags:
            return
        flags = torch.stack(self._flags).cpu()
        steps, names = self._steps, self._names
        self._steps, self._flags = [], []
        if bool(flags.all()):
            return
        row = int((~flags.all(dim=1)).nonzero()[0, 0])
        bad = ", ".join(name for name, ok in zip(names, flags[row].tolist(), strict=True) if not ok)
        raise DivergedError(
            f"training diverged at step {steps[row]}: loss {bad} is not finite "
            "(try a lower learning rate, or check the store for bad tiles)"
        )


def check_weights(networks: Mapping[str, nn.Module], step: int) -> None:
    """Raise :class:`DivergedError` if a parameter of ``networks`` is not finite after ``step``."""
    for name, network in networks.items():
        for parameter_name, parameter in network.named_parameters():
            if not bool(torch.isfinite(parameter).all()):
                raise DivergedError(
                    f"training diverged by step {step}: {name} weight {parameter_name} is "
                    "not finite (try a lower learning rate, or check the store for bad tiles)"
                )
