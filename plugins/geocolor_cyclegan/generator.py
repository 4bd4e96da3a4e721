"""The CycleGAN ResNet generator (Johnson et al. 2016 as used by Zhu et al. 2017).

c7s1-ngf, d2ngf, d4ngf, residual blocks at a quarter of the resolution, two
resize-convolution upsamplings, c7s1-out with tanh. Departures from the reference code,
each for tile-by-tile colorization of large scenes: :class:`SceneInstanceNorm` instead
of ``InstanceNorm2d`` (scene-consistent statistics), resize-convolutions instead of
transposed convolutions (no checkerboards), and reflect padding in the stride-2
convolutions too (no dark frame of zero padding at tile edges).
"""

from __future__ import annotations

from torch import Tensor, nn

from geocolor.config import Upsampling
from geocolor.errors import GeocolorError
from geocolor.models.gan.footprint import Footprint
from geocolor.models.layers import ResizeConv, SceneInstanceNorm

DOWNSAMPLINGS = 2


def conv_norm_relu(
    in_channels: int, out_channels: int, kernel: int, stride: int = 1
) -> list[nn.Module]:
    """A reflect-padded convolution, instance norm and ReLU (the paper's c7s1-k and dk)."""
    return [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel,
            stride=stride,
            padding=kernel // 2,
            padding_mode="reflect",
        ),
        SceneInstanceNorm(out_channels),
        nn.ReLU(inplace=True),
    ]


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with instance norm, added to the input (the paper's Rk)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *conv_norm_relu(channels, channels, 3),
            nn.Conv2d(channels, channels, 3, padding=1, padding_mode="reflect"),
            SceneInstanceNorm(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        residual: Tensor = self.body(x)
        return x + residual


class ResnetGenerator(nn.Module):
    """Image-to-image ResNet: any input whose sides are multiples of :attr:`size_multiple`.

    Parameters
    ----------
    in_channels, out_channels
        Bands in and out.
    ngf
        Width of the first layer; doubled by each downsampling.
    n_blocks
        Residual blocks.
    upsampling
        Interpolation of the resize-convolutions.
    """

    #: Input height and width must be multiples of this (and tiles aligned to it for
    #: seamless inference): the two stride-2 downsamplings.
    size_multiple = 2**DOWNSAMPLINGS

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        ngf: int = 64,
        n_blocks: int = 9,
        upsampling: Upsampling = "nearest",
    ) -> None:
        super().__init__()
        layers = conv_norm_relu(in_channels, ngf, 7)
        width = ngf
        for _ in range(DOWNSAMPLINGS):
            layers += conv_norm_relu(width, 2 * width, 3, stride=2)
            width *= 2
        layers += [ResidualBlock(width) for _ in range(n_blocks)]
        for _ in range(DOWNSAMPLINGS):
            layers += [
                ResizeConv(width, width // 2, upsampling),
                SceneInstanceNorm(width // 2),
                nn.ReLU(inplace=True),
            ]
            width //= 2
        layers += [
            nn.Conv2d(width, out_channels, 7, padding=3, padding_mode="reflect"),
            nn.Tanh(),
        ]
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if height % self.size_multiple or width % self.size_multiple:
            raise GeocolorError(
                f"CycleGAN generator: a {height}x{width} px tile does not fit, its height "
                f"and width must be multiples of {self.size_multiple}"
            )
        translated: Tensor = self.model(x)
        return translated


def resnet_footprint(n_blocks: int, upsampling: Upsampling) -> Footprint:
    """The input pixels an output pixel of :class:`ResnetGenerator` depends on."""
    footprint = Footprint().conv(7)
    for _ in range(DOWNSAMPLINGS):
        footprint = footprint.conv(3, stride=2)
    for _ in range(n_blocks):
        footprint = footprint.union(footprint.conv(3).conv(3))
    for _ in range(DOWNSAMPLINGS):
        footprint = footprint.upsample(upsampling).conv(3)
    return footprint.conv(7)
