"""Terrain correction (GTC) speed and memory, against sarsen, on a synthetic IW GRDH product.

geocolor: ``process-s1 --dem`` of both polarisations (sigma0, thermal denoise, Lee 7x7,
terrain-corrected onto the scene's UTM 10 m grid, dB) into a COG. Reference, in the same
run: sarsen's GTC of VV beta0 on the same grid (sarsen geocodes onto its DEM's grid, so
the DEM is written on exactly geocolor's output grid). The DEM is synthetic: a plateau
with a 1500 m ridge across the scene. Each stage runs in its own process, so its peak
RSS is its own. The geometric agreement with sarsen is checked in
``tests/test_terrain_vs_sarsen.py``.

    python benchmarks/terrain_correction.py [--workdir DIR] [--lines N --samples N]
                                            [--skip-reference]

Defaults are a full-size frame (16704 x 26100): its product and DEM take a while to
write and several GB of disk.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_SIZE = (16704, 26100)
_DEM_STRIP = 1024


def stage_geocolor(product: str, dem: str, out: str) -> None:
    from geocolor.cli import main

    start = time.perf_counter()
    code = main(["--quiet", "process-s1", product, "-o", out, "--grid", dem, "--dem", dem])
    if code:
        raise SystemExit(code)
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def stage_sarsen(product: str, dem: str, out: str) -> None:
    import sarsen
    from sarsen import apps

    start = time.perf_counter()
    measurement = sarsen.Sentinel1SarProduct(product, measurement_group="IW/VV")
    apps.terrain_correction(measurement, dem, output_urlpath=out, interp_method="linear")
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def write_inputs(workdir: Path, lines: int, samples: int) -> tuple[str, str]:
    """The synthetic product and a DEM on its UTM 10 m grid, written on first use."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    from geocolor.demo.s1 import write_synthetic_s1
    from geocolor.s1.backscatter import S1Config, target_grid
    from geocolor.s1.safe import open_safe

    folder = workdir / f"{lines}x{samples}"
    folder.mkdir(parents=True, exist_ok=True)
    products = sorted(folder.glob("S1*.SAFE"))
    if not products:
        write_synthetic_s1(folder, lines=lines, samples=samples, seed=0)
        products = sorted(folder.glob("S1*.SAFE"))
    dem = folder / "dem.tif"
    if not dem.exists():
        grid = target_grid(open_safe(str(products[0])), S1Config())
        assert grid is not None
        profile = {
            "driver": "GTiff",
            "width": grid.width,
            "height": grid.height,
            "count": 1,
            "dtype": "float32",
            "crs": grid.crs,
            "transform": grid.transform,
            "tiled": True,
            "compress": "deflate",
            "BIGTIFF": "IF_SAFER",
        }
        cols = np.arange(grid.width) - grid.width / 2
        with rasterio.open(dem, "w", **profile) as dst:
            for row0 in range(0, grid.height, _DEM_STRIP):
                rows = np.arange(row0, min(row0 + _DEM_STRIP, grid.height)) - grid.height / 2
                across = (cols[None, :] * np.cos(0.3) + rows[:, None] * np.sin(0.3)) * 10.0
                heights = 200.0 + 1500.0 * np.exp(-((across / 4000.0) ** 2))
                window = Window(0, row0, grid.width, rows.size)
                dst.write(heights.astype(np.float32), 1, window=window)
    return str(products[0]), str(dem)


def compare(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    workdir = Path(args.workdir)
    product, dem = write_inputs(workdir, args.lines, args.samples)
    script = Path(__file__).resolve()
    ours = run_stage(
        script, "--stage", "geocolor", "--product", product, "--dem", dem,
        "--out", str(workdir / "geocolor.tif"),
    )  # fmt: skip
    print(
        f"geocolor VV+VH sigma0+denoise+Lee7x7+GTC+dB->COG ({args.lines}x{args.samples}): "
        f"{ours['wall_s']:.1f} s, peak RSS {ours['peak_rss_gib']:.2f} GiB"
    )
    if args.skip_reference:
        return
    reference = run_stage(
        script, "--stage", "sarsen", "--product", product, "--dem", dem,
        "--out", str(workdir / "sarsen.tif"),
    )  # fmt: skip
    print(
        f"sarsen VV beta0 GTC->GeoTIFF: {reference['wall_s']:.1f} s, "
        f"peak RSS {reference['peak_rss_gib']:.2f} GiB; "
        f"geocolor is {reference['wall_s'] / ours['wall_s']:.2f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-terrain")
    parser.add_argument("--lines", type=int, default=FULL_SIZE[0])
    parser.add_argument("--samples", type=int, default=FULL_SIZE[1])
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--stage", choices=["geocolor", "sarsen"], help=argparse.SUPPRESS)
    parser.add_argument("--product", help=argparse.SUPPRESS)
    parser.add_argument("--dem", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "geocolor":
        stage_geocolor(args.product, args.dem, args.out)
    elif args.stage == "sarsen":
        stage_sarsen(args.product, args.dem, args.out)
    else:
        compare(args)


if __name__ == "__main__":
    main()
