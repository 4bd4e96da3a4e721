"""Numeric precision of inference: fp32, bf16 or int8, and ``auto``, which measures them.

The generator is a plain convolutional network once its norm layers use fixed
statistics, so lower precision is a matter of running the same graph differently:

- ``fp32``: the torch module as it is (on a GPU, a ``channels_last`` copy, compiled on
  request).
- ``bf16``: on a CPU whose oneDNN has bfloat16 kernels (AVX-512 BF16, AMX), a
  ``channels_last`` copy whose encoder stays fp32 and whose other convolutions are bf16,
  with fixed norm statistics folded into the convolutions
  (:mod:`geocolor.models.mixed_precision`: plain autocast of the default model agreed
  with fp32 to ~30 dB, this to ~45 dB, at 2-3x fp32's speed); on a GPU, autocast to
  bfloat16 of a ``channels_last`` copy.
- ``int8``: post-training static quantisation with ONNX Runtime (QDQ, per-channel int8
  weights, uint8 activations calibrated on windows of the scene), run on the CPU. PyTorch
  2.14 no longer ships the PT2E quantiser (``torch.ao.quantization.quantize_pt2e`` moved
  to ``torchao``, and X86Inductor's int8 kernels need ``torch.compile``, minutes on two
  cores); ONNX Runtime needs neither.

``auto`` times each mode the device offers on a calibration batch and keeps the fastest
whose output agrees with fp32 to a PSNR threshold (on the generator's [-1, 1] output,
peak-to-peak 2), else fp32; :class:`Choice` records what was measured.
"""

from __future__ import annotations

import copy
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from geocolor.config import Precision
from geocolor.errors import UsageError
from geocolor.models.mixed_precision import mixed_bf16
from geocolor.models.onnx_graph import INPUT, available, export_onnx, require, session

log = logging.getLogger("geocolor.models.precision")

#: Normalised SAR (B, C, H, W) on the model's device -> normalised optical, float32.
Forward = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Tolerance:
    """Least PSNR (dB) against fp32 each reduced precision must reach for ``auto``."""

    bf16: float = 40.0
    int8: float = 35.0


@dataclass(frozen=True)
class Choice:
    """The mode inference runs in, and what ``auto`` measured to pick it."""

    mode: str
    forward: Forward
    #: PSNR (dB) against fp32 on the calibration batch, per mode tried.
    psnr: dict[str, float] = field(default_factory=dict)
    #: Seconds per calibration batch, per mode tried (fp32 included).
    seconds: dict[str, float] = field(default_factory=dict)
    #: Why ``auto`` fell back to fp32; empty otherwise.
    note: str = ""

    def tags(self) -> dict[str, str]:
        """Provenance tags of the output: the mode and its measured agreement."""
        return {
            "precision": self.mode,
            "precision_psnr_db": ",".join(f"{m}={v:.1f}" for m, v in sorted(self.psnr.items())),
            "precision_note": self.note,
        }


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` has fast bfloat16 kernels (oneDNN's on a CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def psnr(reference: Tensor, other: Tensor) -> float:
    """PSNR (dB) of ``other`` against ``reference``, both in [-1, 1] (peak-to-peak 2)."""
    mse = float((reference.float() - other.float()).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def build(
    mode: str, generator: nn.Module, device: torch.device, calibration: Tensor, compile: bool
) -> Forward:
    """The forward pass of ``generator`` in ``mode`` (not ``auto``).

    ``calibration`` (normalised SAR windows of the scene) sets int8's activation ranges;
    ``compile`` wraps GPU modules in ``torch.compile``. The generator is copied where the
    mode changes it, so the caller's module stays fp32.
    """
    if mode == "int8":
        return _int8(generator, calibration)
    if mode == "bf16" and not bf16_supported(device):
        raise UsageError(f"precision bf16: {device} has no fast bfloat16 kernels (use fp32)")
    if mode == "fp32" and device.type != "cuda":
        return generator
    if mode == "bf16" and device.type == "cpu":
        # its layers carry their own dtypes: CPU autocast would pad in fp32
        return _autocast(mixed_bf16(generator), device, bf16=False)
    module = copy.deepcopy(generator).to(memory_format=torch.channels_last)
    if compile and device.type == "cuda":
        return _autocast(torch.compile(module), device, mode == "bf16")
    return _autocast(module, device, mode == "bf16")


def choose(
    requested: Precision,
    generator: nn.Module,
    device: torch.device,
    calibration: Tensor,
    tolerance: Tolerance = Tolerance(),
    compile: bool = False,
) -> Choice:
    """The forward pass for ``requested``; ``auto`` measures the modes on ``calibration``.

    ``fp32`` needs no measurement; another explicit mode is used as asked, its agreement
    measured and logged; ``auto`` picks
    the fastest mode within ``tolerance`` of fp32 and falls back to fp32, saying why.
    """
    plain = build("fp32", generator, device, calibration, compile)
    if requested == "fp32":
        return Choice("fp32", plain)
    with torch.no_grad():
        timing = requested == "auto"  # an explicit mode needs its agreement only
        if timing:
            plain(calibration[:1])  # warm-up: first calls allocate, compile, pick kernels
        reference, fp32_seconds = _timed(plain, calibration)
        candidates: list[str] = [requested] if requested != "auto" else _candidates(device)
        forwards, agreement, seconds = {}, {}, {"fp32": fp32_seconds}
        for mode in candidates:
            forward = build(mode, generator, device, calibration, compile)
            if timing:
                forward(calibration[:1])
            output, seconds[mode] = _timed(forward, calibration)
            forwards[mode], agreement[mode] = forward, psnr(reference, output)
    if requested != "auto":
        if agreement[requested] < getattr(tolerance, requested):
            log.warning(
                "precision %s: PSNR %.1f dB against fp32, below %.0f dB",
                requested,
                agreement[requested],
                getattr(tolerance, requested),
            )
        return Choice(requested, forwards[requested], agreement, seconds)
    within = [m for m in candidates if agreement[m] >= getattr(tolerance, m)]
    faster = [m for m in within if seconds[m] < fp32_seconds]
    if faster:
        best = min(faster, key=seconds.__getitem__)
        log.info("precision auto: %s (PSNR %.1f dB against fp32)", best, agreement[best])
        return Choice(best, forwards[best], agreement, seconds)
    note = _fallback_note(candidates, agreement, seconds, tolerance)
    log.warning("precision auto: fp32, %s", note)
    return Choice("fp32", plain, agreement, seconds, note)


def _candidates(device: torch.device) -> list[str]:
    """The reduced precisions ``auto`` tries on ``device``."""
    modes = ["bf16"] if bf16_supported(device) else []
    # int8 runs on the CPU: on a GPU machine it would not beat the GPU
    if device.type == "cpu" and available():
        modes.append("int8")
    return modes


def _fallback_note(
    candidates: list[str],
    agreement: dict[str, float],
    seconds: dict[str, float],
    tolerance: Tolerance,
) -> str:
    if not candidates:
        return "no reduced precision available on this device"
    reasons = []
    for mode in candidates:
        limit = getattr(tolerance, mode)
        if agreement[mode] < limit:
            reasons.append(f"{mode} PSNR {agreement[mode]:.1f} dB < {limit:.0f} dB")
        else:
            reasons.append(f"{mode} not faster ({seconds[mode]:.2f} s vs {seconds['fp32']:.2f} s)")
    return "; ".join(reasons)


def _timed(forward: Forward, batch: Tensor) -> tuple[Tensor, float]:
    start = time.perf_counter()
    output = forward(batch)
    if output.is_cuda:
        torch.cuda.synchronize(output.device)
    return output, time.perf_counter() - start


def _autocast(module: Callable[[Tensor], Tensor], device: torch.device, bf16: bool) -> Forward:
    def forward(unit: Tensor) -> Tensor:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            output: Tensor = module(unit.contiguous(memory_format=torch.channels_last))
        return output.float().contiguous()

    return forward


def _int8(generator: nn.Module, calibration: Tensor) -> Forward:
    """ONNX Runtime's static int8 quantisation of ``generator``, calibrated on ``calibration``."""
    require("precision int8")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    device = calibration.device
    windows = [w[None].cpu().numpy() for w in calibration]

    class Windows(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._left = iter(windows)

        def get_next(self) -> dict[str, np.ndarray] | None:
            window = next(self._left, None)
            return None if window is None else {INPUT: window}

    with tempfile.TemporaryDirectory(prefix="geocolor-int8-") as folder:
        plain, quantised = Path(folder) / "fp32.onnx", Path(folder) / "int8.onnx"
        prepared = Path(folder) / "prepared.onnx"
        export_onnx(copy.deepcopy(generator).cpu(), calibration[:1].cpu(), plain, {})
        # shape inference and graph optimisation first, as ONNX Runtime's quantiser asks
        quant_pre_process(str(plain), str(prepared))
        quantize_static(
            str(prepared),
            str(quantised),
            Windows(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
        )
        runtime = session(quantised, torch.get_num_threads())

    def forward(unit: Tensor) -> Tensor:
        feed = np.ascontiguousarray(unit.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(runtime.run(None, {INPUT: feed})[0]).to(device)

    return forward
