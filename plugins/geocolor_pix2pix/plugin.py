"""Registers the pix2pix backend (torch is imported on first use, as for CycleGAN)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from geocolor.config import Config
from geocolor.models.gan.config import expect_config
from geocolor.plugins import Registry, hookimpl
from geocolor_pix2pix.config import Pix2PixConfig

if TYPE_CHECKING:
    import torch

    from geocolor.models.backend import Backend
    from geocolor_pix2pix.trainer import Pix2PixTrainer
    from geocolor_pix2pix.unet import UNetGenerator


def _own(config: Config) -> Pix2PixConfig:
    return expect_config(config, Pix2PixConfig, "pix2pix")


class Pix2PixBackend:
    """Paired SAR -> optical translation with a U-Net and L1 (Isola et al. 2017)."""

    name: str = "pix2pix"
    paired: bool = True
    config_type: type[Config] = Pix2PixConfig

    def build_trainer(
        self, in_channels: int, out_channels: int, config: Config, device: torch.device
    ) -> Pix2PixTrainer:
        """The U-Net, the conditional PatchGAN and their optimisers."""
        from geocolor_pix2pix.trainer import Pix2PixTrainer

        return Pix2PixTrainer(in_channels, out_channels, _own(config), device)

    def build_generator(self, in_channels: int, out_channels: int, config: Config) -> UNetGenerator:
        """The U-Net alone, initialised as in training, for loading saved weights."""
        from geocolor_pix2pix.trainer import build_unet

        return build_unet(in_channels, out_channels, _own(config))

    def receptive_field(self, config: Config) -> int:
        """Pixels of context each side of an output pixel (with fixed norm statistics).

        A deep U-Net sees past its tile (765 px each side at depth 8): every output pixel
        then depends on the whole tile.
        """
        from geocolor_pix2pix.unet import unet_footprint

        settings = _own(config)
        return unet_footprint(settings.depth, settings.upsampling).radius


@hookimpl
def geocolor_register_backends(registry: Registry[Backend]) -> None:
    """Add the pix2pix backend."""
    registry.register("pix2pix", Pix2PixBackend())
