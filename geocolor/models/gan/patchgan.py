"""The 70x70 PatchGAN discriminator (Isola et al. 2017), shared by CycleGAN and pix2pix.

C64-C128-C256-C512 with 4x4 convolutions and LeakyReLU(0.2), no norm on the first layer,
then a 1-channel convolution: each output value judges one 70x70 input patch, so the
loss scores texture and local colour rather than whole-tile layout. Only used in
training, so it keeps the reference's zero padding and plain instance norm.
"""

from __future__ import annotations

from torch import Tensor, nn

STRIDED_LAYERS = 3
MAX_WIDTH_FACTOR = 8


class PatchDiscriminator(nn.Module):
    """A grid of real/fake scores (logits), one per 70x70 patch of a tile of >= 32 px.

    Parameters
    ----------
    in_channels
        Bands of the images judged (both domains' bands for a conditional GAN).
    ndf
        Width of the first layer.
    """

    def __init__(self, in_channels: int, ndf: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        width = ndf
        for index in range(1, STRIDED_LAYERS + 1):
            stride = 2 if index < STRIDED_LAYERS else 1
            out_width = ndf * min(2**index, MAX_WIDTH_FACTOR)
            layers += [
                nn.Conv2d(width, out_width, 4, stride=stride, padding=1),
                nn.InstanceNorm2d(out_width),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width = out_width
        layers.append(nn.Conv2d(width, 1, 4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.model(x)
        return logits
