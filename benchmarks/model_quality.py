"""Model quality against simple baselines: the default backend and pix2pix, same CPU budget.

Builds a store of several synthetic scenes (the demo's generators, one seed, place and
date per scene, prepared into one store at 128 px tiles), trains each backend for about ``--budget``
seconds of CPU time (the step count is fitted from a short timing run), then scores
each model as ``colorize`` runs it on the val and test splits with ``geocolor
evaluate``'s code, beside the mean training colour and the per-pixel linear fit from
the SAR bands. Prints one table: PSNR (dB, reflectance range 1.0), SSIM, SAM (degrees)
and the high-frequency energy ratio (1 is right, below 1 is blur).

    python benchmarks/model_quality.py [--budget 300] [--scenes 4] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

#: Backends and their options: pix2pix's U-Net is made as deep as the 64 px crops allow.
BACKENDS = {"cyclegan": {}, "pix2pix": {"depth": 6}}
COLUMNS = ("psnr", "ssim", "sam", "hf_ratio")
TIMING_STEPS = 4
BATCH, CROP = 4, 64


def build_store(workdir: Path, scenes: int) -> str:
    """Prepare ``scenes`` synthetic pairs, apart in place and time, into one store, once."""
    from geocolor.cli import main
    from geocolor.demo.landcover import SceneLayout
    from geocolor.demo.s1 import write_synthetic_s1
    from geocolor.demo.s2 import write_synthetic_s2

    store = workdir / "pairs.zarr"
    if store.exists():
        return str(store)
    for seed in range(scenes):
        data = workdir / f"scene{seed}"
        shutil.rmtree(data, ignore_errors=True)
        base = SceneLayout()
        layout = SceneLayout(
            lines=1200,
            samples=1600,
            centre_lon=base.centre_lon + 0.4 * seed,
            centre_lat=base.centre_lat - 0.3 * seed,
            start_time=base.start_time + timedelta(days=12 * seed),
        )
        s1 = write_synthetic_s1(str(data), layout=layout, seed=seed)
        s2 = write_synthetic_s2(str(data), layout=layout, seed=seed, jp2=True)
        prepare = ["prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store)]
        if main(["--quiet", *prepare, "--tile-size", "128", "--split-block", "2"]) != 0:
            raise SystemExit(f"geocolor prepare failed on scene {seed}")
    return str(store)


def train_for(store: str, backend: str, budget: float, workdir: Path) -> tuple[str, float, int]:
    """Train ``backend`` for about ``budget`` seconds; its model URI, wall time and steps."""
    from geocolor.train.loop import train
    from geocolor.train.run_config import TrainConfig

    def run(steps: int, epochs: int) -> tuple[str, float]:
        config = TrainConfig(
            backend=backend,
            epochs=epochs,
            steps_per_epoch=steps,
            batch_size=BATCH,
            tile_size=CROP,
            num_workers=0,
            backend_options=BACKENDS[backend],
            model_name=f"quality-{backend}",
            experiment="model-quality",
            checkpoint_dir=str(workdir / "checkpoints"),
        )
        start = time.perf_counter()
        result = train(store, config)
        return result.model_uri, time.perf_counter() - start

    _, timing = run(TIMING_STEPS, 1)  # validation and registration included: an overestimate
    steps = max(int(budget / timing * TIMING_STEPS), TIMING_STEPS)
    epochs = max(steps // 100, 1)
    uri, wall = run(-(-steps // epochs), epochs)
    return uri, wall, epochs * -(-steps // epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--budget", type=float, default=300, help="Seconds per backend.")
    parser.add_argument("--scenes", type=int, default=4, help="Synthetic scenes in the store.")
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-quality")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads.")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{workdir}/mlflow.db")
    import torch

    from geocolor.prepare.store import open_store, read_tiles
    from geocolor.prepare.tiling import Split
    from geocolor.train.evaluation import evaluate_model

    torch.set_num_threads(args.threads)
    store = build_store(workdir, args.scenes)
    tiles = read_tiles(open_store(store, "r"))
    counts = {split.name.lower(): int((tiles.split == int(split)).sum()) for split in Split}
    print(f"store: {args.scenes} scenes, tiles {counts}; {args.threads} threads, crops {CROP}")
    rows: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    for backend in BACKENDS:
        uri, wall, steps = train_for(store, backend, args.budget, workdir)
        notes[backend] = f"{steps} steps, {wall / 60:.1f} min"
        for split in (Split.VAL, Split.TEST):
            prefix = split.name.lower()
            _, metrics = evaluate_model(uri, store, split, device="cpu", experiment="model-quality")
            rows.setdefault(backend, {}).update(
                {f"{prefix}_{name}": metrics[name] for name in (*COLUMNS, "skill")}
            )
            for baseline in ("mean", "linear"):
                rows.setdefault(f"baseline {baseline}", {}).update(
                    {f"{prefix}_{name}": metrics[f"baseline_{baseline}_{name}"] for name in COLUMNS}
                )
    header = [f"{prefix} {name}" for prefix in ("val", "test") for name in COLUMNS]
    print("| model | " + " | ".join(header) + " | val skill |")
    print("| --- " * (len(header) + 2) + "|")
    for name in ("baseline mean", "baseline linear", *BACKENDS):
        values = rows[name]
        cells = [
            f"{values[f'{p} {c}'.replace(' ', '_')]:.3f}" for p in ("val", "test") for c in COLUMNS
        ]
        skill = f"{values['val_skill']:+.2f}" if "val_skill" in values else ""
        label = f"{name} ({notes[name]})" if name in notes else name
        print(f"| {label} | " + " | ".join(cells) + f" | {skill} |")


if __name__ == "__main__":
    main()
