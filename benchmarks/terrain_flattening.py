"""Radiometric terrain flattening (gamma0-rtc) speed and memory, against sarsen.

geocolor: ``process-s1 --dem --measure gamma0-rtc --layover-shadow-mask`` of VV (no
thermal denoise, no speckle filter, so the time is the geometry's and the flattening's),
onto the scene's UTM 10 m grid, dB, into a COG; and the same without flattening
(``--measure beta0``) to show what flattening adds. Reference, in the same run:
sarsen's ``terrain_correction(correct_radiometry="gamma_bilinear")`` of VV on the same
grid. Inputs are those of ``benchmarks/terrain_correction.py`` (a synthetic product and
a DEM with a 1500 m ridge on its grid). Each stage runs in its own process, so its peak
RSS is its own. Agreement with sarsen is checked in ``tests/test_terrain_vs_sarsen.py``.

    python benchmarks/terrain_flattening.py [--workdir DIR] [--lines N --samples N]
                                            [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def stage_geocolor(product: str, dem: str, out: str, measure: str) -> None:
    from geocolor.cli import main

    args = ["--quiet", "process-s1", product, "-o", out, "--grid", dem, "--dem", dem]
    args += ["--pol", "VV", "--no-denoise", "--speckle", "none", "--measure", measure]
    if measure == "gamma0-rtc":
        args.append("--layover-shadow-mask")
    start = time.perf_counter()
    code = main(args)
    if code:
        raise SystemExit(code)
    print(json.dumps({"wall_s": time.perf_counter() - start}))


def compare(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(HERE))
    from _measure import run_stage
    from terrain_correction import write_inputs

    workdir = Path(args.workdir)
    product, dem = write_inputs(workdir, args.lines, args.samples)
    script = Path(__file__).resolve()
    results = {}
    for measure in ("beta0", "gamma0-rtc"):
        results[measure] = run_stage(
            script, "--stage", "geocolor", "--measure", measure, "--product", product,
            "--dem", dem, "--out", str(workdir / f"geocolor-{measure}.tif"),
        )  # fmt: skip
        print(
            f"geocolor VV {measure} GTC->COG ({args.lines}x{args.samples}): "
            f"{results[measure]['wall_s']:.1f} s, "
            f"peak RSS {results[measure]['peak_rss_gib']:.2f} GiB"
        )
    if args.skip_reference:
        return
    reference = run_stage(
        script, "--stage", "sarsen", "--product", product, "--dem", dem,
        "--out", str(workdir / "sarsen-gamma.tif"),
    )  # fmt: skip
    print(
        f"sarsen VV gamma_bilinear->GeoTIFF: {reference['wall_s']:.1f} s, "
        f"peak RSS {reference['peak_rss_gib']:.2f} GiB; geocolor gamma0-rtc is "
        f"{reference['wall_s'] / results['gamma0-rtc']['wall_s']:.2f}x faster"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="bench-terrain")
    parser.add_argument("--lines", type=int, default=4000)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--stage", choices=["geocolor", "sarsen"], help=argparse.SUPPRESS)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--product", help=argparse.SUPPRESS)
    parser.add_argument("--dem", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage == "geocolor":
        stage_geocolor(args.product, args.dem, args.out, args.measure)
    elif args.stage == "sarsen":
        sys.path.insert(0, str(HERE))
        from terrain_correction import stage_sarsen

        stage_sarsen(args.product, args.dem, args.out, correct_radiometry="gamma_bilinear")
    else:
        compare(args)


if __name__ == "__main__":
    main()
