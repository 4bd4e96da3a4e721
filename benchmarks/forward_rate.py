"""Per-tile forward rate of the default generator: fp32 eager, bf16 and compiled, on one device.

The default CycleGAN generator (ngf 64, 9 residual blocks, untrained: the same cost)
runs batches of ``--tile``² tiles, each mode built by :func:`geocolor.models.precision.build`,
the code ``colorize --precision`` runs:

- ``fp32 eager``: the module as it is, contiguous tensors (what a plain PyTorch loop runs);
- ``fp32``: ``colorize``'s fp32 path (on a GPU a ``channels_last`` copy);
- ``bf16``: autocast on the ``channels_last`` copy;
- ``fp32 compiled`` / ``bf16 compiled``: the same under ``torch.compile`` (GPU only,
  ``colorize --compile``).

Each mode is warmed up (compilation timed apart), then timed over ``--repeats`` rounds of
``--batches`` batches, each round ended by one device synchronisation; the median round
gives tiles/s and megapixels/s. Agreement is the PSNR (peak-to-peak 2) of each mode's
output against fp32 eager's on the same smooth, speckled input.

    python benchmarks/forward_rate.py [--device cuda] [--tile 512] [--batch 1 8 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

SAR_BANDS, OPTICAL_BANDS = 2, 3
COMPILED_MODES = ("fp32 compiled", "bf16 compiled")


def tiles(batch: int, size: int, device: torch.device) -> Tensor:
    """Smooth normalised SAR-like fields with multiplicative speckle, in [-1, 1]."""
    generator = torch.Generator().manual_seed(batch)
    y = torch.arange(size, dtype=torch.float32)[:, None]
    x = torch.arange(size, dtype=torch.float32)[None, :]
    phase = torch.rand(batch, SAR_BANDS, 1, 1, generator=generator) * 6.28
    field = 0.5 * torch.sin(x / 37 + phase) * torch.cos(y / 53 - phase)
    speckle = torch.randn(batch, SAR_BANDS, size, size, generator=generator) * 0.15
    return (field + speckle).clamp(-1, 1).to(device)


def timed(
    forward: Callable[[Tensor], Tensor], batch: Tensor, repeats: int, rounds: int
) -> tuple[float, float, Tensor]:
    """Warm-up seconds, median seconds per batch, and the output of ``batch``."""

    def synchronise() -> None:
        if batch.is_cuda:
            torch.cuda.synchronize(batch.device)

    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(2):
            output = forward(batch)
        synchronise()
        warm = time.perf_counter() - start
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(rounds):
                forward(batch)
            synchronise()
            seconds.append((time.perf_counter() - start) / rounds)
    return warm, statistics.median(seconds), output.float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tile", type=int, default=512, help="Tile side in pixels.")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8, 16])
    parser.add_argument("--repeats", type=int, default=5, help="Timed rounds per mode.")
    parser.add_argument("--rounds", type=int, default=10, help="Batches per timed round.")
    parser.add_argument("--json", help="Also write the rows to this JSON file.")
    args = parser.parse_args()

    from geocolor.models.precision import bf16_supported, build, psnr
    from geocolor.plugins.manager import get_plugins

    device = torch.device(args.device)
    backend = get_plugins().backends.get("cyclegan")
    torch.manual_seed(0)
    generator = backend.build_generator(SAR_BANDS, OPTICAL_BANDS, backend.config_type())
    generator = generator.eval().to(device)
    modes: dict[str, tuple[str, bool]] = {"fp32": ("fp32", False)}
    if bf16_supported(device):
        modes["bf16"] = ("bf16", False)
    if device.type == "cuda":
        modes["fp32 compiled"] = ("fp32", True)
        if "bf16" in modes:
            modes["bf16 compiled"] = ("bf16", True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"default CycleGAN generator, {args.tile}² tiles, {name}, torch {torch.__version__}")
    header = ("mode", "batch", "tiles/s", "MPix/s", "x eager", "PSNR dB", "warm-up s")
    print("{:<14} {:>5} {:>9} {:>8} {:>8} {:>8} {:>10}".format(*header))
    rows = []
    for batch_size in args.batch:
        batch = tiles(batch_size, args.tile, device)
        _, eager_s, reference = timed(generator, batch, args.repeats, args.rounds)
        results = {"fp32 eager": (0.0, eager_s, reference)}
        for label, (mode, compile) in modes.items():
            torch.compiler.reset()
            forward = build(mode, generator, device, batch[:1], compile)
            results[label] = timed(forward, batch, args.repeats, args.rounds)
        for label, (warm, seconds, output) in results.items():
            row = {
                "mode": label,
                "batch": batch_size,
                "tiles_per_s": batch_size / seconds,
                "mpix_per_s": batch_size * args.tile**2 / seconds / 1e6,
                "speedup": eager_s / seconds,
                "psnr_db": psnr(reference, output),
                "warmup_s": warm,
            }
            rows.append(row)
            print(
                f"{label:<14} {batch_size:>5} {row['tiles_per_s']:>9.2f} "
                f"{row['mpix_per_s']:>8.1f} {row['speedup']:>8.2f} "
                f"{row['psnr_db']:>8.1f} {warm:>10.1f}",
                flush=True,
            )
    if args.json:
        summary = {"device": name, "torch": torch.__version__, "rows": rows}
        Path(args.json).write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
