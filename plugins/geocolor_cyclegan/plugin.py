"""Registers the CycleGAN backend."""

from __future__ import annotations

import torch

from geocolor.backend import Backend
from geocolor.config import Config
from geocolor.hookspecs import hookimpl
from geocolor.registry import Registry
from geocolor_cyclegan.config import CycleGANConfig, expect_config
from geocolor_cyclegan.generator import ResnetGenerator, resnet_footprint
from geocolor_cyclegan.trainer import CycleGANTrainer
from geocolor_cyclegan.weights import init_normal


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
        return CycleGANTrainer(in_channels, out_channels, _own(config), device)

    def build_generator(
        self, in_channels: int, out_channels: int, config: Config
    ) -> ResnetGenerator:
        """G alone, initialised as in training, for loading saved weights."""
        settings = _own(config)
        generator = ResnetGenerator(
            in_channels, out_channels, settings.ngf, settings.n_blocks, settings.upsampling
        )
        init_normal(generator, settings.init_gain)
        return generator

    def receptive_field(self, config: Config) -> int:
        """Pixels of context each side of an output pixel (with fixed norm statistics)."""
        settings = _own(config)
        return resnet_footprint(settings.n_blocks, settings.upsampling).radius


@hookimpl
def geocolor_register_backends(registry: Registry[Backend]) -> None:
    """Add the CycleGAN backend."""
    registry.register("cyclegan", CycleGANBackend())
