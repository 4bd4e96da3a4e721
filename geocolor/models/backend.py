"""The model backend contract: what a plugin provides to be trained and used by geocolor.

A backend is registered by name through ``geocolor_register_backends``. The core
drives it (data, devices, distribution, checkpoints, MLflow, inference) and never
needs to know its networks: it asks the backend to build a :class:`Trainer` for
training and a bare generator for inference, and saves the generator's weights with
the backend's name, its config and the data normalisation, so loading needs nothing
else.

Batches are dictionaries of float tensors, normalised to [-1, 1]:

- ``"sar"``: (B, in_channels, H, W) Sentinel-1 backscatter.
- ``"optical"``: (B, out_channels, H, W) Sentinel-2 reflectance.
- ``"valid"``: (B, 1, H, W), 1 where both are valid; losses ignore the rest.

For unpaired backends the two domains in a batch come from the same place (the store
is paired), but the backend may shuffle one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import torch
from torch import nn

from geocolor.config import Config

Batch = Mapping[str, torch.Tensor]


class Trainer(Protocol):
    """A backend's training-time state: networks, optimisers, schedules, losses."""

    @property
    def generator(self) -> nn.Module:
        """The SAR -> optical network (unwrapped): what is evaluated and logged."""
        ...

    def networks(self) -> Mapping[str, nn.Module]:
        """Every trainable network by name (moved to the device by the driver)."""
        ...

    def wrap(self, wrapper: Callable[[nn.Module], nn.Module]) -> None:
        """Replace each network used in :meth:`train_step` by ``wrapper(network)`` (DDP)."""
        ...

    def train_step(self, batch: Batch, amp: bool) -> Mapping[str, float | torch.Tensor]:
        """One optimisation step on ``batch``; returns named scalar losses.

        Return 0-d tensors rather than floats where the step runs on a GPU: the driver
        averages them on the device and reads them only when it logs, so steps never
        wait for the GPU to catch up.
        """
        ...

    def end_epoch(self, epoch: int, epochs: int) -> None:
        """Called after each epoch (0-based) of ``epochs``: learning-rate schedules.

        Make it a function of its arguments: a resumed run calls it again for the
        checkpoint's epoch with the new total, so that a run given more epochs goes on
        with the schedule it would have followed had it been planned that long.
        """
        ...

    def state_dict(self) -> dict[str, object]:
        """Everything needed to resume: networks, optimisers, schedulers, pools."""
        ...

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        """Restore what :meth:`state_dict` returned."""
        ...


#: Optional ``Trainer`` method: ``effective_options() -> Mapping[str, object]``, the
#: backend options whose trained value differs from the configured one (a loss the data
#: cannot use, say). The driver logs these values instead, so a run's parameters say
#: what was trained.
EFFECTIVE_OPTIONS = "effective_options"


class Backend(Protocol):
    """A model family (CycleGAN, pix2pix, ...), registered under :attr:`name`."""

    name: str
    #: True when training needs co-registered pairs (pix2pix), False if unpaired works.
    paired: bool
    #: The backend's hyper-parameters: a :class:`~geocolor.config.Config` subclass.
    config_type: type[Config]

    def build_trainer(
        self, in_channels: int, out_channels: int, config: Config, device: torch.device
    ) -> Trainer:
        """Networks, optimisers and losses for training, on ``device``."""
        ...

    def build_generator(self, in_channels: int, out_channels: int, config: Config) -> nn.Module:
        """The bare generator, for loading saved weights at inference."""
        ...

    def receptive_field(self, config: Config) -> int:
        """Pixels of context an output pixel depends on: sets the inference overlap."""
        ...
