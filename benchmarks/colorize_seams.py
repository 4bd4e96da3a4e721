"""Seams of tiled colorization, per norm mode: before blending and after it.

A trained CycleGAN (by default trained here for a few steps on the demo data, as
``make demo`` does; ``--model`` uses an existing one) colorizes the demo Sentinel-1
product processed to sigma0 dB on its UTM grid (``geocolor process-s1``; ``--scene``
uses another raster), with the default tile plan (the model's default overlap), once
per norm mode (``tile``, ``frozen``, ``scene``) and tile size.

(a) Before blending: every tile of the plan predicted on its own; for each pair of
horizontal or vertical neighbours, |a - b| over the pixels both cover (reflectance,
RGB bands), pooled over all pairs' pixels. This is the step a blend has to hide.

(b) After blending: the float mosaic from :func:`geocolor.colorize.mosaic.blend` (the engine
``colorize`` streams into its COG). Gradients are absolute differences of neighbouring
pixels along x and y. "Hand-over" differences are those touching a pixel of a
hand-over ramp (where a tile's blend weight is strictly between 0 and 1), over the
whole ramp, not only its centre; "interior" differences are those whose both pixels
lie where a single tile covers the pixel along both axes. The ratio of their means is
the seam figure (target <= 1.10). Two references: "input", the same ratio of the SAR
input (what the content alone gives over these zones), and "unblended", that of a
hard-cut mosaic of the per-tile predictions at the cut (the ramp's centre, where each
pixel's heaviest tile changes): what blending removes.

    python benchmarks/colorize_seams.py [--workdir DIR] [--model URI] [--scene TIF]
                                         [--tile-sizes 512 256]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geocolor.colorize.blending import Span, axis_weights
from geocolor.colorize.mosaic import blend
from geocolor.colorize.pipeline import (
    ColorizeConfig,
    TilePlan,
    plan_tiles,
    prepare_norm,
    rgb_channels,
)
from geocolor.colorize.readers import SceneReader, scene_reader
from geocolor.models.logged import LoadedModel, load_model

NORM_MODES = ("tile", "frozen", "scene")
TARGET_RATIO = 1.10
GEOCOLOR = Path(sys.executable).with_name("geocolor")
TRAIN_ARGS = (
    *("--epochs", "2", "--steps-per-epoch", "10", "--batch-size", "4", "--tile-size", "64"),
    *("--num-workers", "0", "-O", "ngf=16", "-O", "n_blocks=2", "-O", "ndf=16"),
)


def geocolor(workdir: Path, *args: str) -> str:
    """Run the ``geocolor`` CLI in ``workdir``; its last printed line."""
    result = subprocess.run(
        [str(GEOCOLOR), "--quiet", *args], cwd=workdir, check=True, capture_output=True, text=True
    )
    return result.stdout.strip().splitlines()[-1]


def demo_scene(workdir: Path) -> Path:
    """The demo Sentinel-1 product as a sigma0 dB raster on its UTM grid (cached)."""
    scene = workdir / "s1_sigma0_db.tif"
    if not scene.exists():
        geocolor(workdir, "demo-data", "-o", "data")
        product = next((workdir / "data").glob("S1*.SAFE"))
        geocolor(workdir, "process-s1", str(product), "-o", scene.name)
    return scene


def demo_model(workdir: Path) -> str:
    """A CycleGAN trained briefly on the demo pair, as ``make demo`` trains it."""
    demo_scene(workdir)
    if not (workdir / "pairs.zarr").exists():
        geocolor(
            workdir,
            *("prepare", "--s1", "data/S1*.SAFE", "--s2", "data/S2*.SAFE", "-o", "pairs.zarr"),
            *("--tile-size", "128", "--split-block", "2"),
        )
    return geocolor(workdir, "train", "pairs.zarr", *TRAIN_ARGS)


def tile_predictions(
    model: LoadedModel, reader: SceneReader, plan: TilePlan, rgb: tuple[int, ...]
) -> dict[tuple[int, int], np.ndarray]:
    """Each tile's own RGB reflectance prediction, keyed by (row, column) index."""
    predictions = {}
    for i, row in enumerate(plan.rows):
        for j, col in enumerate(plan.cols):
            sar = reader.read(row.start, col.start, row.size, col.size)
            predictions[i, j] = model.predict(sar[None])[0, list(rgb)]
    return predictions


def overlap_disagreement(
    predictions: dict[tuple[int, int], np.ndarray], plan: TilePlan
) -> tuple[float, int]:
    """Mean |a - b| over the pixels neighbouring tiles share, and the number of pairs."""
    differences = []
    for (i, j), tile in predictions.items():
        row, col = plan.rows[i], plan.cols[j]
        if j + 1 < len(plan.cols):
            right = plan.cols[j + 1]
            shared = col.stop - right.start
            differences.append(
                tile[:, :, col.size - shared :] - predictions[i, j + 1][..., :shared]
            )
        if i + 1 < len(plan.rows):
            below = plan.rows[i + 1]
            shared = row.stop - below.start
            differences.append(tile[:, row.size - shared :] - predictions[i + 1, j][:, :shared])
    pooled = np.concatenate([np.abs(d).ravel() for d in differences])
    return float(np.nanmean(pooled)), len(differences)


def blended_mosaic(
    model: LoadedModel,
    reader: SceneReader,
    plan: TilePlan,
    rgb: tuple[int, ...],
    config: ColorizeConfig,
) -> np.ndarray:
    """The float RGB reflectance mosaic ``colorize`` would quantise (NaN without data)."""
    height, width = reader.grid.shape
    mosaic = np.full((len(rgb), height, width), np.nan, dtype=np.float32)

    def keep(row0: int, col0: int, values: np.ndarray, valid: np.ndarray) -> None:
        mosaic[:, row0 : row0 + valid.shape[0], col0 : col0 + valid.shape[1]] = values

    blend(
        reader.read,
        lambda batch: model.predict(batch)[:, list(rgb)],
        plan.rows,
        plan.cols,
        (height, width),
        plan.overlap,
        len(rgb),
        keep,
        batch_size=config.batch_size,
        panel_width=max(config.panel_width, 2 * plan.tile),
    )
    return mosaic


def axis_owners(spans: Sequence[Span], overlap: int, length: int) -> np.ndarray:
    """Per pixel along an axis, the span of largest blend weight: where a hard cut sits."""
    owner = np.zeros(length, dtype=int)
    best = np.full(length, -1.0)
    for index, (span, weight) in enumerate(
        zip(spans, axis_weights(list(spans), overlap), strict=True)
    ):
        inside = weight[: min(span.stop, length) - span.start]
        window = slice(span.start, span.start + inside.size)
        heavier = inside > best[window]
        owner[window][heavier] = index
        best[window][heavier] = inside[heavier]
    return owner


def hard_cut_mosaic(
    predictions: dict[tuple[int, int], np.ndarray], plan: TilePlan, shape: tuple[int, int]
) -> np.ndarray:
    """The unblended mosaic: each pixel from the tile of largest weight, no ramps."""
    height, width = shape
    row_owner = axis_owners(plan.rows, plan.overlap, height)
    col_owner = axis_owners(plan.cols, plan.overlap, width)
    first = next(iter(predictions.values()))
    mosaic = np.empty((first.shape[0], height, width), dtype=np.float32)
    for (i, j), tile in predictions.items():
        ys, xs = np.flatnonzero(row_owner == i), np.flatnonzero(col_owner == j)
        if ys.size and xs.size:
            top, left = plan.rows[i].start, plan.cols[j].start
            mosaic[:, ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1] = tile[
                :, ys[0] - top : ys[-1] + 1 - top, xs[0] - left : xs[-1] + 1 - left
            ]
    return mosaic


@dataclass(frozen=True)
class AxisZones:
    """Per pixel along one axis: in a hand-over ramp, covered by one tile only; per
    difference (pixel x-1 to x): at a ramp's centre."""

    ramp: np.ndarray
    single: np.ndarray
    centre: np.ndarray


def axis_zones(spans: Sequence[Span], overlap: int, length: int) -> AxisZones:
    """Where the blend weights of :func:`~geocolor.colorize.blending.axis_weights` hand over."""
    ramp = np.zeros(length, dtype=bool)
    coverage = np.zeros(length, dtype=int)
    centre = np.zeros(length - 1, dtype=bool)
    for span, weight in zip(spans, axis_weights(list(spans), overlap), strict=True):
        inside = weight[: min(span.stop, length) - span.start]
        ramp[span.start : span.start + inside.size] |= (inside > 0) & (inside < 1)
        coverage[span.start : span.start + inside.size] += 1
        heavy = inside >= 0.5
        centre[span.start : span.start + inside.size - 1] |= heavy[1:] != heavy[:-1]
    return AxisZones(ramp, coverage == 1, centre)


@dataclass(frozen=True)
class GradientRatios:
    """Mean |gradient| at hand-overs (whole ramp, and its centre) over that in interiors."""

    ramp: float
    cut: float
    interior: float


def gradient_ratios(mosaic: np.ndarray, plan: TilePlan) -> GradientRatios:
    """Pooled x and y gradients of the mosaic, hand-over versus tile interior."""
    _, height, width = mosaic.shape
    rows = axis_zones(plan.rows, plan.overlap, height)
    cols = axis_zones(plan.cols, plan.overlap, width)
    interior = rows.single[:, None] & cols.single[None, :]
    along_x = np.abs(np.diff(mosaic, axis=2))
    along_y = np.abs(np.diff(mosaic, axis=1))
    zones = {
        "ramp": (
            np.broadcast_to(cols.ramp[1:] | cols.ramp[:-1], (height, width - 1)),
            np.broadcast_to((rows.ramp[1:] | rows.ramp[:-1])[:, None], (height - 1, width)),
        ),
        "cut": (
            np.broadcast_to(cols.centre, (height, width - 1)),
            np.broadcast_to(rows.centre[:, None], (height - 1, width)),
        ),
        "interior": (interior[:, 1:] & interior[:, :-1], interior[1:] & interior[:-1]),
    }
    means = {
        name: float(
            np.nanmean(np.concatenate([along_x[:, x_mask].ravel(), along_y[:, y_mask].ravel()]))
        )
        for name, (x_mask, y_mask) in zones.items()
    }
    # a flat mosaic (a model whose fixed statistics saturate it) has no ratio
    interior = means["interior"] or float("nan")
    return GradientRatios(means["ramp"] / interior, means["cut"] / interior, means["interior"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-seams", type=Path)
    parser.add_argument("--model", help="Model URI (default: train one on the demo data).")
    parser.add_argument("--scene", help="Sigma0 dB raster (default: the demo S1 product's).")
    parser.add_argument("--tile-sizes", type=int, nargs="+", default=[512, 256])
    args = parser.parse_args()
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # the CLI's and this process's MLflow state, in the work folder
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{workdir}/mlflow.db")
    start = time.perf_counter()
    scene = args.scene or str(demo_scene(workdir))
    uri = args.model or demo_model(workdir)
    print(f"model {uri}, scene {scene} ({time.perf_counter() - start:.0f} s to prepare)")
    model = load_model(uri, "cpu")
    rgb = rgb_channels(model)
    header = (
        "norm", "tile", "overlap", "tiles", "pairs", "(a) |a-b|", "|grad| in",
        "input", "unblended", "(b) blended", "target",
    )  # fmt: skip
    line = "{:<7} {:>5} {:>8} {:>6} {:>6} {:>10} {:>10} {:>7} {:>10} {:>12} {:>7}"
    print(line.format(*header))
    with scene_reader(scene, model.normalisation.sar_bands, model.sar_processing) as reader:
        shape = reader.grid.shape
        for tile_size in args.tile_sizes:
            for norm in NORM_MODES:
                config = ColorizeConfig(tile_size=tile_size, norm=norm)  # type: ignore[arg-type]
                plan = plan_tiles(reader.grid, model, config)
                prepare_norm(model, reader, config, plan)
                predictions = tile_predictions(model, reader, plan, rgb)
                disagreement, pairs = overlap_disagreement(predictions, plan)
                content = gradient_ratios(reader.read(0, 0, *shape), plan)
                unblended = gradient_ratios(hard_cut_mosaic(predictions, plan, shape), plan)
                blended = gradient_ratios(blended_mosaic(model, reader, plan, rgb, config), plan)
                print(
                    line.format(
                        norm,
                        plan.tile,
                        plan.overlap,
                        len(plan.rows) * len(plan.cols),
                        pairs,
                        f"{disagreement:.5f}",
                        f"{blended.interior:.5f}",
                        f"{content.ramp:.3f}",
                        f"{unblended.cut:.3f}",
                        f"{blended.ramp:.3f}",
                        "met" if blended.ramp <= TARGET_RATIO else "MISSED",
                    )
                )
    print(
        "(a): mean |a - b|, reflectance, over the pixels neighbouring tiles share; |grad| in: "
        "mean |gradient| inside tiles after blending, reflectance.\nRatios of mean |gradient| "
        "at hand-overs to inside tiles: input: of the SAR input over the ramps (the content's "
        "own figure); unblended: of a hard-cut mosaic at the cut; (b) blended: of the blended "
        f"mosaic over the ramps, target <= {TARGET_RATIO}."
    )


if __name__ == "__main__":
    main()
