"""The 70x70 PatchGAN discriminator (Isola et al. 2017), shared by CycleGAN and pix2pix.

C64-C128-C256-C512 with 4x4 convolutions and LeakyReLU(0.2), no norm on the first layer,
then a 1-channel convolution: each output value judges one 70x70 input patch, so the
loss scores texture and local colour rather than whole-tile layout. Only used in
training, so it keeps the reference's zero padding and plain instance norm.

Optionally multi-scale (Wang et al. 2018, pix2pixHD): further PatchGANs judge the image
average-pooled by 2, 4, ..., so coarser ones see 140 px, 280 px patches of layout. Every
scale returns its intermediate activations too, for the feature-matching loss.
"""

from __future__ import annotations

import torch.nn.functional as F  # noqa: N812 (the PyTorch convention)
from torch import Tensor, nn

STRIDED_LAYERS = 3
MAX_WIDTH_FACTOR = 8

#: Per scale (finest first): the activation of each block, then the logits.
Judgement = list[list[Tensor]]


def _patchgan(in_channels: int, ndf: int) -> nn.Sequential:
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
    return nn.Sequential(*layers)


def _activations(model: nn.Module, x: Tensor) -> list[Tensor]:
    """The output of each LeakyReLU of a :func:`_patchgan`, then the logits."""
    outputs = []
    for layer in model.children():
        x = layer(x)
        if isinstance(layer, nn.LeakyReLU):
            outputs.append(x)
    return [*outputs, x]


class PatchDiscriminator(nn.Module):
    """Grids of real/fake scores (logits), one per 70x70 patch, at one or more scales.

    Parameters
    ----------
    in_channels
        Bands of the images judged (both domains' bands for a conditional GAN).
    ndf
        Width of the first layer.
    scales
        PatchGANs, each on the image halved once more; tiles need at least 32 px at the
        coarsest scale.
    """

    def __init__(self, in_channels: int, ndf: int = 64, scales: int = 1) -> None:
        super().__init__()
        # the finest scale keeps the single-scale names, so older checkpoints still load
        self.model = _patchgan(in_channels, ndf)
        self.coarser = nn.ModuleList(_patchgan(in_channels, ndf) for _ in range(scales - 1))

    def forward(self, x: Tensor) -> Judgement:
        judgement = [_activations(self.model, x)]
        for model in self.coarser:
            x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            judgement.append(_activations(model, x))
        return judgement


def split_batch(judgement: Judgement, count: int) -> tuple[Judgement, Judgement]:
    """The judgement of the first ``count`` images of a batch, and of the rest."""
    first = [[output[:count] for output in scale] for scale in judgement]
    rest = [[output[count:] for output in scale] for scale in judgement]
    return first, rest
