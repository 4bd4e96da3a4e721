"""Terrain correction (GTC) speed and memory, against sarsen, on a synthetic IW GRDH product.

geocolor: ``process-s1 --dem`` of both polarisations (sigma0, thermal denoise, Lee 7x7,
terrain-corrected onto the scene's UTM 10 m grid, dB) into a COG. Reference, in the same
run: sarsen's GTC of VV beta0 on the same grid (sarsen geocodes onto its DEM's grid, so
the DEM is written on exactly geocolor's output grid), with its defaults otherwise. The
DEM is synthetic: a plateau with a 1500 m ridge across the scene. Each stage runs in its
own process, so its wall time, CPU time (user + system: comparable on a shared machine)
and peak RSS are its own. The geometric agreement with sarsen is checked in
``tests/test_terrain_vs_sarsen.py``.

    python benchmarks/terrain_correction.py [--full | --lines N --samples N]
                                            [--workdir DIR] [--skip-reference]
                                            [--reference-rows N]

The default is a medium product (1800 x 2000, about 2200 x 2300 output pixels).
``--full`` is a full-size IW GRDH frame (16704 x 26100): its product and DEM take a
while to write and several GB of disk, and sarsen takes long on it. Where it takes too
long, ``--reference-rows N`` runs sarsen on the middle N rows of the grid only (a DEM
cut to them) and scales its times by rows; its fixed costs are scaled too, so
that flatters geocolor a little, and its RSS is the band's: prefer the full run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_SIZE = (16704, 26100)
MEDIUM_SIZE = (1800, 2000)
_DEM_STRIP = 1024


def stage_geocolor(product: str, dem: str, out: str) -> None:
    from geocolor.cli import main

    start = time.perf_counter()
    code = main(["--quiet", "process-s1", product, "-o", out, "--grid", dem, "--dem", dem])
    if code:
        raise SystemExit(code)
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def stage_sarsen(product: str, dem: str, out: str, correct_radiometry: str | None = None) -> None:
    """sarsen's GTC of VV, with its ``correct_radiometry`` (None: none; the flattening
    benchmark passes ``"gamma_bilinear"``)."""
    import sarsen
    from sarsen import apps

    start = time.perf_counter()
    measurement = sarsen.Sentinel1SarProduct(product, measurement_group="IW/VV")
    apps.terrain_correction(
        measurement,
        dem,
        output_urlpath=out,
        interp_method="linear",
        correct_radiometry=correct_radiometry,
    )
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


def reference_rows(dem: str, rows: int) -> tuple[str, float]:
    """A copy of the middle ``rows`` of the DEM (sarsen geocodes onto its DEM's grid), and
    the factor that scales times on it to the whole grid."""
    import rasterio
    from rasterio.windows import Window

    band = Path(dem).with_name(f"dem-rows-{rows}.tif")
    with rasterio.open(dem) as src:
        rows = min(rows, src.height)
        window = Window(0, (src.height - rows) // 2, src.width, rows)
        profile = {**src.profile, "height": rows, "transform": src.window_transform(window)}
        if not band.exists():
            with rasterio.open(band, "w", **profile) as dst:
                dst.write(src.read(window=window))
        return str(band), src.height / rows


def describe(name: str, run: dict[str, float], scale: float = 1.0) -> str:
    scaled = f" (x{scale:.1f}, scaled from a band of rows)" if scale != 1.0 else ""
    return (
        f"{name}: wall {run['process_wall_s'] * scale:.1f} s, "
        f"CPU {run['cpu_s'] * scale:.1f} s{scaled}, peak RSS {run['peak_rss_gib']:.2f} GiB"
    )


def compare(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    workdir = Path(args.workdir)
    lines, samples = FULL_SIZE if args.full else (args.lines, args.samples)
    product, dem = write_inputs(workdir, lines, samples)
    script = Path(__file__).resolve()
    common = ["--product", product, "--dem", dem]
    ours = run_stage(script, "--stage", "geocolor", *common, "--out", str(workdir / "geocolor.tif"))
    print(describe(f"geocolor VV+VH sigma0+denoise+Lee7x7+GTC+dB->COG ({lines}x{samples})", ours))
    if args.skip_reference:
        return
    reference_dem, scale = (
        reference_rows(dem, args.reference_rows) if args.reference_rows else (dem, 1.0)
    )
    reference = run_stage(
        script,
        *("--stage", "sarsen", "--product", product, "--dem", reference_dem),
        *("--out", str(workdir / "sarsen.tif")),
    )
    print(describe("sarsen VV beta0 GTC->GeoTIFF", reference, scale))
    print(
        f"geocolor is {reference['process_wall_s'] * scale / ours['process_wall_s']:.2f}x "
        f"faster by wall time, {reference['cpu_s'] * scale / ours['cpu_s']:.2f}x by CPU time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-terrain")
    parser.add_argument("--full", action="store_true", help="A full-size IW GRDH frame.")
    parser.add_argument("--lines", type=int, default=MEDIUM_SIZE[0])
    parser.add_argument("--samples", type=int, default=MEDIUM_SIZE[1])
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument(
        "--reference-rows", type=int, help="Run sarsen on this many grid rows and scale."
    )
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
