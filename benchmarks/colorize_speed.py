"""Speed and memory of ``colorize`` on the CPU.

Speed: a 2 048 x 2 048 dual-pol sigma0 dB raster colorized by the default backend
(CycleGAN, default config: ngf 64, 9 residual blocks; untrained weights, which cost
the same) with the default :class:`~geocolor.colorize.pipeline.ColorizeConfig`. Reported: the
wall time of ``colorize()`` (reading, blending, the COG with overviews), the forward
passes alone on the same batches of the same shapes (pre-built tensors, no_grad, the
same norm mode, after one untimed warm-up pass), their ratio (target <= 1.15; also in
CPU time, steadier on a shared machine, and without the time ``colorize`` spends
gathering scene statistics, timed apart), and the redundancy of the default tile plan
(model pixels / scene pixels, target <= 1.5).

Memory: a light backend (CycleGAN ngf 4, 1 block) colorizes a small and a large
raster (5 000² and 20 000² px by default), each in its own process; peak RSS of the
larger should stay within 1.2x of the smaller's, since the mosaic streams in strips.

Precision: the default model colorizes a 2 048² raster (``--precision-size``) in fp32,
in each ``--precision-modes`` mode (bf16, int8, auto) and in fp32 again, all in one
process after one warm-up pass: seconds per scene (everything ``colorize`` does: the
calibration passes, int8's export and quantisation), speed-up over the mean of the two
fp32 runs, and PSNR of the 8-bit colours against fp32's (peak 255) beside the PSNR
``colorize`` measured on its calibration windows (the generator's output, peak-to-peak 2;
what ``auto`` compares with its thresholds). Then the forward passes alone: each reduced
mode against eager fp32 on one 512² tile of the scene, alternating five times so both see
the same load, medians. Target: >= 2x over fp32 within tolerance (40 dB bf16, 35 dB
int8). The weights are untrained (normal(0, 0.02), as training starts): a trained
model's agreement may differ, which is why ``auto`` measures every scene.

Input rasters are tiled, compressed float32 GeoTIFFs written block by block into
``--workdir`` (kept between runs); their smooth content compresses to little.

    python benchmarks/colorize_speed.py [--workdir DIR] [--quick]
    python benchmarks/colorize_speed.py --only precision --precision-size 512
    python benchmarks/colorize_speed.py --only precision --precision-modes bf16
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from geocolor.colorize.pipeline import ColorizeConfig, TilePlan
    from geocolor.config import Precision
    from geocolor.models.logged import LoadedModel

HERE = Path(__file__).resolve().parent
BANDS = ("VV sigma0 dB", "VH sigma0 dB")
LIGHT = {"ngf": 4, "n_blocks": 1}
TARGETS = {"ratio": 1.15, "redundancy": 1.5, "rss": 1.2, "speedup": 2.0}
# fp32 runs first and last: the spread of the two shows how noisy the machine is
MODES: tuple[Precision, ...] = ("fp32", "bf16", "int8", "auto", "fp32")
TOLERANCES = {"bf16": 40.0, "int8": 35.0}
#: The precision stage's forward-only comparison: one tile of this side, fp32 and each
#: reduced mode alternating this many times.
FORWARD_TILE, FORWARD_REPEATS = 512, 5
BLOCK = 1024


def write_raster(path: Path, size: int) -> None:
    """A size x size VV/VH sigma0 dB GeoTIFF of smooth fields, written block by block."""
    import numpy as np
    import rasterio
    from affine import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": len(BANDS),
        "dtype": "float32",
        "crs": "EPSG:32632",
        "transform": Affine(10, 0, 500_000, 0, -10, 5_100_000),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "ZSTD",
        "predictor": 3,
        "bigtiff": "YES",
        "nodata": float("nan"),
    }
    partial = path.with_suffix(".partial.tif")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.descriptions = BANDS
        for row0 in range(0, size, BLOCK):
            for col0 in range(0, size, BLOCK):
                height, width = min(BLOCK, size - row0), min(BLOCK, size - col0)
                y = np.arange(row0, row0 + height, dtype=np.float32)[:, None]
                x = np.arange(col0, col0 + width, dtype=np.float32)[None, :]
                vv = -12 + 4 * np.sin(x / 170) * np.cos(y / 230) + 2 * np.sin((x + y) / 61)
                block = np.stack([vv, vv - 7 + np.cos(x / 97)]).astype(np.float32)
                dst.write(block, window=Window(col0, row0, width, height))
    partial.rename(path)


def scene_raster(workdir: Path, size: int) -> Path:
    """The cached ``size``² input raster."""
    path = workdir / f"scene-{size}.tif"
    if not path.exists():
        free = shutil.disk_usage(workdir).free / 2**30
        print(f"writing {path.name} ({free:.0f} GiB free in {workdir})", flush=True)
        write_raster(path, size)
    return path


def cyclegan(options: dict[str, int]) -> LoadedModel:
    """An untrained CycleGAN generator as a loaded model, the demo normalisation."""
    import torch

    from geocolor.config import Config
    from geocolor.models.logged import LoadedModel
    from geocolor.models.normalisation import Normalisation
    from geocolor.plugins.manager import get_plugins

    backend = get_plugins().backends.get("cyclegan")
    config: Config = backend.config_type.model_validate(options)
    torch.manual_seed(0)
    generator = backend.build_generator(len(BANDS), 3, config).eval()
    normalisation = Normalisation(
        BANDS, (-25.0, -32.0), (5.0, -5.0), ("B02", "B03", "B04"), (0.0,) * 3, (0.3,) * 3
    )
    return LoadedModel(
        uri=f"untrained:cyclegan{options}",
        backend="cyclegan",
        config=config,
        normalisation=normalisation,
        sar_processing=None,
        generator=generator,
        in_channels=len(BANDS),
        out_channels=3,
        receptive_field=int(backend.receptive_field(config)),
        size_multiple=generator.size_multiple,
        device=torch.device("cpu"),
        version=None,
    )


def forward_seconds(
    model: LoadedModel, plan: TilePlan, shape: tuple[int, int], config: ColorizeConfig
) -> tuple[float, float]:
    """Wall and CPU time of the generator alone on every batch ``colorize`` runs for ``plan``."""
    import torch

    from geocolor.colorize.mosaic import plan_batches, plan_panels
    from geocolor.models.layers import set_norm_mode

    set_norm_mode(model.generator, config.norm)
    panels = plan_panels(plan.cols, shape[1], max(config.panel_width, 2 * plan.tile))
    batches = plan_batches(plan.rows, plan.cols, panels, config.batch_size)
    inputs = [
        torch.rand(len(b.columns), len(BANDS), plan.rows[b.row].size, plan.cols[b.columns[0]].size)
        * 2
        - 1
        for b in batches
    ]
    wall = cpu = 0.0
    with torch.no_grad():
        for tensor in inputs:
            start, start_cpu = time.perf_counter(), time.process_time()
            model.generator(tensor)
            wall += time.perf_counter() - start
            cpu += time.process_time() - start_cpu
    return wall, cpu


def stage_speed(scene: str, output: str) -> None:
    """colorize() and the bare forward passes of the default backend; one JSON line."""
    import rasterio
    import torch

    from geocolor.colorize.blending import redundancy
    from geocolor.colorize.pipeline import ColorizeConfig, colorize, plan_tiles, prepare_norm
    from geocolor.colorize.readers import scene_reader
    from geocolor.geo.grid import Grid

    model = cyclegan({})
    config = ColorizeConfig()
    with rasterio.open(scene) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
    plan = plan_tiles(grid, model, config)
    with torch.no_grad():  # one-off start-up costs (thread pools, kernels) timed in neither
        model.generator(torch.zeros(1, len(BANDS), plan.tile, plan.tile))
    start, start_cpu = time.perf_counter(), time.process_time()
    result = colorize(scene, model, output, config=config)
    total, total_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    forward, forward_cpu = forward_seconds(model, plan, grid.shape, config)
    with scene_reader(scene, BANDS, None) as reader:
        start = time.perf_counter()
        prepare_norm(model, reader, config)
        statistics = time.perf_counter() - start
    print(
        json.dumps(
            {
                "total_s": total,
                "forward_s": forward,
                "total_cpu_s": total_cpu,
                "forward_cpu_s": forward_cpu,
                "statistics_s": statistics,
                "norm": config.norm,
                "load": os.getloadavg()[0],
                "tiles": result.tiles,
                "tile": plan.tile,
                "overlap": plan.overlap,
                "redundancy": redundancy(plan.rows, plan.cols, grid.height, grid.width),
                "threads": torch.get_num_threads(),
            }
        )
    )


def stage_memory(scene: str, output: str) -> None:
    """colorize() of the light backend; its wall time and the RSS before it started."""
    import resource

    from geocolor.colorize.pipeline import colorize

    model = cyclegan(LIGHT)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    start = time.perf_counter()
    result = colorize(scene, model, output)
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "tiles": result.tiles, "rss_before_gib": before}))


def stage_precision(scene: str, output: str, modes: tuple[Precision, ...]) -> None:
    """colorize() in each precision mode; seconds, calibration PSNR and colour PSNR."""
    import math

    import numpy as np
    import rasterio
    import torch

    from geocolor.colorize.pipeline import ColorizeConfig, colorize

    model = cyclegan({})
    with torch.no_grad():  # one-off start-up costs, as in the speed stage
        model.generator(torch.zeros(1, len(BANDS), 256, 256))
    rows, reference = {}, None
    for run, mode in enumerate(modes):
        start = time.perf_counter()
        result = colorize(scene, model, output, config=ColorizeConfig(precision=mode))
        seconds = time.perf_counter() - start
        with rasterio.open(output) as src:
            colours = src.read().astype(np.float64)
        reference = colours if reference is None else reference
        mse = float(np.mean((colours - reference) ** 2))
        rows[mode if run < len(modes) - 1 else f"{mode} again"] = {
            "seconds": seconds,
            "chosen": result.tags["precision"],
            "calibration_psnr": result.tags["precision_psnr_db"],
            "within": _within(result.tags),
            "note": result.tags["precision_note"],
            "colour_psnr": math.inf if mse == 0 else 10 * math.log10(255**2 / mse),
        }
    forward = forward_ratios(model, scene, FORWARD_REPEATS)
    print(json.dumps({"modes": rows, "forward": forward, "threads": torch.get_num_threads()}))


def forward_ratios(model: LoadedModel, scene: str, repeats: int) -> dict[str, dict[str, float]]:
    """Each reduced mode's forward pass against eager fp32's on one tile of the scene.

    The generator keeps the scene statistics of the last ``colorize``. fp32 and the mode
    alternate ``repeats`` times, so both see the same load; the medians of their times
    and of the per-pair ratio are reported, with the PSNR against fp32 (peak-to-peak 2).
    """
    import statistics

    import numpy as np
    import rasterio
    import torch
    from rasterio.windows import Window

    from geocolor.models.onnx_graph import available
    from geocolor.models.precision import bf16_supported, build, psnr

    side = FORWARD_TILE
    with rasterio.open(scene) as src:
        window = src.read(window=Window(0, 0, min(side, src.width), min(side, src.height)))
    tile = model.normalisation.sar_to_unit(torch.from_numpy(window.astype(np.float32))[None])[0]
    modes = [m for m, ok in (("bf16", bf16_supported(model.device)), ("int8", available())) if ok]
    plain = model.generator
    results = {}
    with torch.no_grad():
        reference = plain(tile)
        for mode in modes:
            forward = build(mode, plain, model.device, tile, compile=False)
            agreement = psnr(reference, forward(tile))
            pairs = []
            for _ in range(repeats):
                start = time.perf_counter()
                plain(tile)
                middle = time.perf_counter()
                forward(tile)
                pairs.append((middle - start, time.perf_counter() - middle))
            results[mode] = {
                "fp32_s": statistics.median(a for a, _ in pairs),
                "mode_s": statistics.median(b for _, b in pairs),
                "speedup": statistics.median(a / b for a, b in pairs),
                "psnr": agreement,
            }
    return results


def _within(tags: dict[str, str]) -> bool:
    """Whether the mode a run used reached its PSNR tolerance (fp32 always does)."""
    measured = dict(item.split("=") for item in tags["precision_psnr_db"].split(",") if item)
    chosen = tags["precision"]
    return chosen == "fp32" or float(measured[chosen]) >= TOLERANCES[chosen]


def print_precision(result: dict[str, Any], size: int) -> None:
    """The precision table, with the 2x target judged on modes within tolerance."""
    modes = result["modes"]
    fp32 = (modes["fp32"]["seconds"] + modes["fp32 again"]["seconds"]) / 2
    print(
        f"\nprecision, default CycleGAN, {size}² px, {result['threads']} threads "
        f"(s per 2 048² scaled by pixels; speed-up over the mean of the two fp32 runs)"
    )
    print(
        f"{'mode':<10} {'chosen':<6} {'s':>8} {'s/2048²':>8} {'speed-up':>8} "
        f"{'PSNR 8-bit':>10}  calibration PSNR (dB)"
    )
    scale = (2048 / size) ** 2
    for mode, row in modes.items():
        print(
            f"{mode:<10} {row['chosen']:<6} {row['seconds']:>8.1f} {row['seconds'] * scale:>8.0f} "
            f"{fp32 / row['seconds']:>7.2f}x {row['colour_psnr']:>10.1f}  "
            f"{row['calibration_psnr'] or '-'} {row['note']}"
        )
    print(
        f"forward passes alone, one {FORWARD_TILE}² tile, {FORWARD_REPEATS} alternations (medians)"
    )
    for mode, row in result["forward"].items():
        print(
            f"{mode:<10} fp32 {row['fp32_s']:.2f} s, {mode} {row['mode_s']:.2f} s, "
            f"speed-up {row['speedup']:.2f}x, PSNR {row['psnr']:.1f} dB "
            f"({'within' if row['psnr'] >= TOLERANCES[mode] else 'below'} tolerance)"
        )
    best = max(fp32 / row["seconds"] for row in modes.values() if row["within"])
    verdict = "met" if best >= TARGETS["speedup"] else "MISSED"
    print(
        f"best speed-up within tolerance {best:.2f}x (target >= {TARGETS['speedup']}x): {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-colorize", type=Path)
    parser.add_argument("--quick", action="store_true", help="1 024² speed, 2 000²/8 000² RSS.")
    parser.add_argument("--speed-size", type=int, help="Side of the speed scene (2048).")
    parser.add_argument("--memory-sizes", type=int, nargs=2, help="Sides for RSS (5000 20000).")
    parser.add_argument("--precision-size", type=int, help="Side of the precision scene (2048).")
    parser.add_argument(
        "--precision-modes",
        nargs="+",
        choices=MODES[1:-1],
        default=MODES[1:-1],
        help="Modes timed between the two fp32 runs (bf16 int8 auto).",
    )
    parser.add_argument("--modes", help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", choices=["speed-memory", "precision"], help="Run one part of the benchmark."
    )
    parser.add_argument("--stage", choices=["speed", "memory", "precision"], help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "speed":
        return stage_speed(args.scene, args.output)
    if args.stage == "memory":
        return stage_memory(args.scene, args.output)
    if args.stage == "precision":
        return stage_precision(args.scene, args.output, tuple(args.modes.split(",")))

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    speed_size = args.speed_size or (1024 if args.quick else 2048)
    small, large = args.memory_sizes or ((2000, 8000) if args.quick else (5000, 20000))
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    output = str(workdir / "colour.tif")
    if args.only != "speed-memory":
        precision_size = args.precision_size or (1024 if args.quick else 2048)
        scene = scene_raster(workdir, precision_size)
        precision = run_stage(
            Path(__file__),
            "--stage",
            "precision",
            "--scene",
            str(scene),
            "--output",
            output,
            "--modes",
            ",".join(("fp32", *args.precision_modes, "fp32")),
        )
        print_precision(precision, precision_size)
        if args.only == "precision":
            return

    scene = scene_raster(workdir, speed_size)
    speed = run_stage(Path(__file__), "--stage", "speed", "--scene", str(scene), "--output", output)
    print(
        f"speed, default CycleGAN, {speed_size}² px, tile {speed['tile']}, overlap "
        f"{speed['overlap']}, {speed['tiles']} tiles, {speed['threads']} threads: "
        f"colorize {speed['total_s']:.1f} s ({speed['total_cpu_s']:.1f} s CPU), forward "
        f"{speed['forward_s']:.1f} s ({speed['forward_cpu_s']:.1f} s CPU), of colorize's "
        f"time {speed['statistics_s']:.1f} s gather {speed['norm']} statistics; load average "
        f"{speed['load']:.1f}",
        flush=True,
    )
    memory = {}
    for size in (small, large):
        scene = scene_raster(workdir, size)
        memory[size] = run_stage(
            Path(__file__), "--stage", "memory", "--scene", str(scene), "--output", output
        )
        print(
            f"memory, light CycleGAN, {size}² px: {memory[size]['tiles']} tiles, "
            f"{memory[size]['wall_s']:.1f} s, peak RSS {memory[size]['peak_rss_gib']:.2f} GiB "
            f"({memory[size]['rss_before_gib']:.2f} before colorize)",
            flush=True,
        )
    Path(output).unlink(missing_ok=True)

    ratio = speed["total_s"] / speed["forward_s"]
    cpu_ratio = speed["total_cpu_s"] / speed["forward_cpu_s"]
    bare_ratio = (speed["total_s"] - speed["statistics_s"]) / speed["forward_s"]
    rss_ratio = memory[large]["peak_rss_gib"] / memory[small]["peak_rss_gib"]
    rows = [
        (f"colorize total, {speed_size}²", f"{speed['total_s']:.1f} s", ""),
        (f"forward passes, {speed_size}²", f"{speed['forward_s']:.1f} s", ""),
        ("total / forward", f"{ratio:.3f}", f"<= {TARGETS['ratio']}"),
        ("total / forward, CPU time", f"{cpu_ratio:.3f}", ""),
        ("(total - statistics) / forward", f"{bare_ratio:.3f}", ""),
        ("redundancy (default overlap)", f"{speed['redundancy']:.3f}", "<= 1.5"),
        (f"peak RSS, {small}²", f"{memory[small]['peak_rss_gib']:.2f} GiB", ""),
        (f"peak RSS, {large}²", f"{memory[large]['peak_rss_gib']:.2f} GiB", ""),
        ("RSS large / small", f"{rss_ratio:.3f}", f"<= {TARGETS['rss']}"),
    ]
    checks = {
        "total / forward": ratio <= TARGETS["ratio"],
        "redundancy (default overlap)": speed["redundancy"] <= TARGETS["redundancy"],
        "RSS large / small": rss_ratio <= TARGETS["rss"],
    }
    print(f"\n{'measure':<30} {'value':>10} {'target':>8} {'':>6}")
    for name, value, target in rows:
        verdict = "" if name not in checks else ("met" if checks[name] else "MISSED")
        print(f"{name:<30} {value:>10} {target:>8} {verdict:>6}")


if __name__ == "__main__":
    main()
