"""The pix2pix U-Net generator (Isola et al. 2017).

An encoder of stride-2 4x4 convolutions down to the bottleneck and a mirrored decoder,
each decoder block fed the encoder's features of its resolution (skip connections), so
fine SAR structure reaches the output without squeezing through the bottleneck.

Departures from the reference code, for tile-by-tile colorization of large scenes:

- :class:`SceneInstanceNorm` instead of BatchNorm: it trains on batch statistics as
  BatchNorm does, but at inference normalises with statistics pooled over the scene, so
  every tile of a scene is normalised alike.
- Resize-convolutions instead of transposed convolutions (no checkerboards), and reflect
  padding in the encoder (no dark frame at tile edges).
- The bottleneck's decoder block has no norm: from a 1x1 bottleneck, a resize-convolution
  gives a spatially constant map, which instance norm would set to zero.
- Dropout is off in eval mode (the paper keeps it at test time as noise); colorization
  should be deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from geocolor.config import Upsampling
from geocolor.errors import GeocolorError
from geocolor.models.gan.footprint import Footprint
from geocolor.models.layers import ResizeConv, SceneInstanceNorm

MAX_WIDTH_FACTOR = 8


class UNetGenerator(nn.Module):
    """U-Net with ``depth`` levels: tile sides must be multiples of :attr:`size_multiple`.

    Parameters
    ----------
    in_channels, out_channels
        Bands in and out.
    ngf
        Width of the first level; doubled per level up to 8 ngf.
    depth
        Downsamplings.
    dropout, dropout_blocks
        Dropout rate in the ``dropout_blocks`` decoder blocks just above the bottleneck.
    upsampling
        Interpolation of the resize-convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        depth: int = 8,
        dropout: float = 0.5,
        dropout_blocks: int = 3,
        upsampling: Upsampling = "nearest",
    ) -> None:
        super().__init__()
        #: Input height and width must be multiples of this (and tiles aligned to it
        #: for seamless inference).
        self.size_multiple = 2**depth
        self.depth = depth
        widths = [in_channels] + [ngf * min(2**level, MAX_WIDTH_FACTOR) for level in range(depth)]
        innermost = depth - 1
        with_dropout = range(max(1, innermost - dropout_blocks), innermost)
        self.encoder = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in range(depth):
            down: list[nn.Module] = [] if level == 0 else [nn.LeakyReLU(0.2)]
            down.append(
                nn.Conv2d(
                    widths[level], widths[level + 1], 4, stride=2, padding=1, padding_mode="reflect"
                )
            )
            if 0 < level < innermost:
                down.append(SceneInstanceNorm(widths[level + 1]))
            self.encoder.append(nn.Sequential(*down))

            inner = widths[level + 1] if level == innermost else 2 * widths[level + 1]
            outer = out_channels if level == 0 else widths[level]
            up: list[nn.Module] = [nn.ReLU(), ResizeConv(inner, outer, upsampling)]
            if level == 0:
                up.append(nn.Tanh())
            elif level < innermost:
                up.append(SceneInstanceNorm(outer))
            if level in with_dropout:
                up.append(nn.Dropout(dropout))
            self.decoder.append(nn.Sequential(*up))

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise GeocolorError(
                f"pix2pix generator: a {height}x{width} px tile does not fit a U-Net of depth "
                f"{self.depth}, its height and width must be multiples of {self.size_multiple} "
                "(lower the pix2pix 'depth' or enlarge the tiles)"
            )
        skips = []
        for down in self.encoder:
            skips.append(x)
            x = down(x)
        for level in reversed(range(self.depth)):
            x = self.decoder[level](x)
            if level > 0:
                x = torch.cat([skips[level], x], dim=1)
        return x


def unet_footprint(depth: int, upsampling: Upsampling) -> Footprint:
    """The input pixels an output pixel of :class:`UNetGenerator` depends on."""
    footprint = Footprint()
    skips = []
    for _ in range(depth):
        skips.append(footprint)
        footprint = footprint.conv(4, stride=2, padding=1)
    for level in reversed(range(depth)):
        footprint = footprint.upsample(upsampling).conv(3)
        if level > 0:
            footprint = footprint.union(skips[level])
    return footprint
