"""Training throughput (tiles/s) of the default CycleGAN backend, eager fp32 against the fast path.

The backend's own ``train_step`` (both generators and both discriminators, Adam, the
paired loss) on random [-1, 1] batches: eager fp32 (what a plain PyTorch loop runs);
``torch.compile`` on every network (through ``Trainer.wrap``, the hook DDP uses);
channels-last memory format for networks and batches; bf16 autocast (CUDA only); and
the fast path, all three together (``geocolor train`` with ``amp``, ``channels_last`` and
``compile``). Default config (ngf 64, 9 residual blocks), 256x256 tiles, batches of 1
and 8. Each (variant, batch) runs in its own process; warm-up steps, which include
compilation, are timed apart, and the timed steps end with one device synchronisation
(steps return their losses as tensors, so nothing waits for the GPU before).

    python benchmarks/train_throughput.py [--device cpu|cuda] [--size 256] [--batches 1 8]
        [--steps 3] [--warmup 2] [--variants eager fast ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("eager", "compile", "channels-last", "bf16", "fast")
SAR_BANDS, OPTICAL_BANDS = 2, 3


def stage(variant: str, batch_size: int, size: int, steps: int, warmup: int, device: str) -> None:
    """Time ``steps`` training steps after ``warmup`` ones; print one JSON line."""
    import torch

    from geocolor.plugins.manager import get_plugins

    backend = get_plugins().backends.get("cyclegan")
    where = torch.device(device)
    torch.manual_seed(0)
    trainer = backend.build_trainer(SAR_BANDS, OPTICAL_BANDS, backend.config_type(), where)
    channels_last = variant in ("channels-last", "fast")
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for network in trainer.networks().values():
        network.to(memory_format=memory_format)
    if variant in ("compile", "fast"):
        trainer.wrap(torch.compile)
    amp = variant in ("bf16", "fast")

    def random_batch() -> dict[str, torch.Tensor]:
        def image(bands: int) -> torch.Tensor:
            values = torch.rand(batch_size, bands, size, size, device=where) * 2 - 1
            return values.contiguous(memory_format=memory_format)

        valid = torch.ones(batch_size, 1, size, size, device=where)
        valid = valid.contiguous(memory_format=memory_format)
        return {"sar": image(SAR_BANDS), "optical": image(OPTICAL_BANDS), "valid": valid}

    def synchronise() -> None:
        if where.type == "cuda":
            torch.cuda.synchronize(where)

    start = time.perf_counter()
    for _ in range(warmup):
        trainer.train_step(random_batch(), amp=amp)
    synchronise()
    warm = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(random_batch(), amp=amp)
    synchronise()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "tiles_per_s": batch_size * steps / (done - warm),
                "step_s": (done - warm) / steps,
                "warmup_s": warm - start,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N.")
    parser.add_argument("--size", type=int, default=256, help="Tile side in pixels.")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--steps", type=int, default=3, help="Timed steps per measurement.")
    parser.add_argument("--warmup", type=int, default=2, help="Untimed steps first.")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--stage", nargs=2, metavar=("VARIANT", "BATCH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        variant, batch = args.stage
        stage(variant, int(batch), args.size, args.steps, args.warmup, args.device)
        return

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    print(
        f"default CycleGAN, {args.size}x{args.size} tiles, {args.device}, "
        f"{args.steps} timed steps (bf16 autocast only acts on CUDA)"
    )
    header = ("variant", "batch", "tiles/s", "s/step", "warm-up s", "peak RSS GiB")
    print("{:<14} {:>5} {:>9} {:>8} {:>10} {:>13}".format(*header))
    for batch in args.batches:
        for variant in args.variants:
            result = run_stage(
                Path(__file__),
                *("--stage", variant, str(batch)),
                *("--size", str(args.size), "--steps", str(args.steps)),
                *("--warmup", str(args.warmup), "--device", args.device),
            )
            print(
                f"{variant:<14} {batch:>5} {result['tiles_per_s']:>9.3f} "
                f"{result['step_s']:>8.2f} {result['warmup_s']:>10.1f} "
                f"{result['peak_rss_gib']:>13.2f}"
            )


if __name__ == "__main__":
    main()
