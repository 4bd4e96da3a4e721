"""bfloat16 inference on a CPU that keeps the layers bf16 hurts most in float32.

Plain autocast of the default CycleGAN agreed with fp32 to only ~29 dB PSNR on scene
windows, below ``auto``'s 40 dB. Measured layer by layer (bf16 in one convolution at a
time, 256² windows of the benchmark scene), the error comes from the encoder: keeping
only the input convolution in fp32 raised 30.1 dB to 38.6 dB, and the two downsamplings
with it to 44.8 dB; the residual blocks, the decoder, the residual adds and the tanh
each cost little. So :func:`mixed_bf16` runs the first :data:`FP32_CONVOLUTIONS`
convolutions (5 % of the default model's multiply-adds) in fp32 and the rest in bf16.

Two more things made it fast: the modules are cast to bf16 outright instead of autocast
(CPU autocast runs reflection padding in fp32, so every reflect-padded convolution paid
two full-size casts, a third of autocast's time), and scene or frozen norm statistics
are folded into the convolution before them (:func:`fold_norms`; exact in fp32, and one
pass over the activations fewer per layer).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from geocolor.models.layers import LIVE_MODES, ResizeConv, SceneInstanceNorm

#: Leading convolutions (in registration order, the forward order of the built-in
#: generators) that stay float32 in :func:`mixed_bf16`.
FP32_CONVOLUTIONS = 3


class _Cast(nn.Module):
    """``layer`` computing in its own dtype whatever its input's; the output in ``output``."""

    def __init__(self, layer: nn.Module, dtype: torch.dtype, output: torch.dtype) -> None:
        super().__init__()
        self.layer = layer.to(dtype)
        self.dtype, self.output = dtype, output

    def forward(self, x: Tensor) -> Tensor:
        result: Tensor = self.layer(x.to(self.dtype))
        return result.to(self.output)


@torch.no_grad()
def fold_norms(module: nn.Module) -> None:
    """Fold each fixed-statistics norm into the convolution just before it, in place.

    ``(conv(x) - mean) / sqrt(var + eps)`` is a convolution with scaled weights and a
    shifted bias. Norms in ``"batch"`` or ``"tile"`` mode depend on their input and stay.
    """
    for sequence in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        for index in range(1, len(sequence)):
            norm, before = sequence[index], sequence[index - 1]
            convolution = before[-1] if isinstance(before, ResizeConv) else before
            if not (
                isinstance(norm, SceneInstanceNorm)
                and norm.mode not in LIVE_MODES
                and isinstance(convolution, nn.Conv2d)
            ):
                continue
            mean, var = (s.double() for s in norm.statistics())
            scale = (var + norm.eps).rsqrt()
            weight = convolution.weight.double() * scale[:, None, None, None]
            bias = convolution.bias.double() if convolution.bias is not None else 0.0
            convolution.weight.copy_(weight)
            shifted = ((bias - mean) * scale).to(convolution.weight.dtype)
            convolution.bias = nn.Parameter(shifted)
            sequence[index] = nn.Identity()


def mixed_bf16(generator: nn.Module) -> nn.Module:
    """A ``channels_last`` copy of ``generator``: leading convolutions fp32, the rest bf16.

    The copy takes float32 input and returns bf16; the activations after the last fp32
    convolution are bf16.
    """
    module = copy.deepcopy(generator)
    fold_norms(module)
    convolutions = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    for index, (name, convolution) in enumerate(convolutions):
        fp32 = index < FP32_CONVOLUTIONS
        compute = torch.float32 if fp32 else torch.bfloat16
        # the last fp32 layer hands bf16 on, so no bf16 layer casts its input again
        output = compute if index != FP32_CONVOLUTIONS - 1 else torch.bfloat16
        parent, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(parent), leaf, _Cast(convolution, compute, output))
    return module.to(memory_format=torch.channels_last)
