"""Registers the CycleGAN backend.

torch and the networks are imported when a backend method first needs them, so that
loading the plugins (as every command does, ``process-s1`` for its speckle filters
too) does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geocolor.config import Config
from geocolor.models.gan.config import expect_config
from geocolor.plugins import Registry, hookimpl
from geocolor_cyclegan.config import CycleGANConfig

if TYPE_CHECKING:
    import torch

    from geocolor.models.backend import Backend
    from geocolor_cyclegan.generator import ResnetGenerator
    from geocolor_cyclegan.trainer import CycleGANTrainer


def _own(config: Config) -> CycleGANConfig:
    return expect_config(config, CycleGANConfig, "CycleGAN")


class CycleGANBackend:
    """Unpaired SAR -> optical translation (Zhu et al. 2017), geocolor's default backend."""

    name: str = "cyclegan"
    paired: bool = False
    config_type: type[Config] = CycleGANConfig

    def build_trainer(
        self, in_channels: int, out_channels: int, config: Config, device: torch.device
    ) -> CycleGANTrainer:
        """Both generators and discriminators, their optimisers and image pools."""
        from geocolor_cyclegan.trainer import CycleGANTrainer

        return CycleGANTrainer(in_channels, out_channels, _own(config), device)

    def build_generator(
        self, in_channels: int, out_channels: int, config: Config
    ) -> ResnetGenerator:
        """G alone, initialised as in training, for loading saved weights."""
        from geocolor.models.gan.weights import init_normal
        from geocolor_cyclegan.generator import ResnetGenerator

        settings = _own(config)
        generator = ResnetGenerator(
            in_channels, out_channels, settings.ngf, settings.n_blocks, settings.upsampling
        )
        init_normal(generator, settings.init_gain)
        return generator

    def receptive_field(self, config: Config) -> int:
        """Pixels of context each side of an output pixel (with fixed norm statistics)."""
        from geocolor_cyclegan.generator import resnet_footprint

        settings = _own(config)
        return resnet_footprint(settings.n_blocks, settings.upsampling).radius


@hookimpl
def geocolor_register_backends(registry: Registry[Backend]) -> None:
    """Add the CycleGAN backend."""
    registry.register("cyclegan", CycleGANBackend())
