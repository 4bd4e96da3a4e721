"""Sentinel-1 chain throughput on a full-size synthetic IW GRDH dual-pol product.

geocolor: read -> sigma0 -> thermal denoise -> Lee 7x7 -> dB -> Zarr, both
polarisations, on the local Dask cluster, radar geometry. Reference, in the same run:
xarray-sentinel's ``calibrate_intensity`` (sigma0, dB) of one polarisation to Zarr.
Each stage runs in its own process so its peak RSS is its own; geocolor's stage runs
``--repeat`` times and its median is compared.

Two layouts of the same product (same DN): ``esa``, the measurement rasters as ESA
ships them (uncompressed, one line per strip), and ``deflate``, 512 px DEFLATE tiles,
which cost about 3 ns per pixel to decode.

    python benchmarks/s1_chain.py [--workdir DIR] [--layout esa|deflate|both]
                                  [--repeat N] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_SIZE = (16704, 26100)
LAYOUTS = {"esa": "none", "deflate": "deflate"}  # layout -> compression of the rasters


def stage_geocolor(product: str, out: str, chunk: int, codec: str) -> None:
    import dask.array as da
    import zarr

    from geocolor.io.cluster import dask_client
    from geocolor.s1.backscatter import S1Config, backscatter
    from geocolor.s1.safe import open_safe

    start = time.perf_counter()
    result = backscatter(
        open_safe(product), S1Config(grid="radar", speckle="lee", window=7, chunk=chunk)
    )
    compressors = [zarr.codecs.BloscCodec(cname=codec, clevel=1)] if codec != "none" else None
    target = zarr.create_array(
        out,
        shape=result.image.shape,
        chunks=tuple(max(axis) for axis in result.image.chunks),
        dtype="float32",
        compressors=compressors,
        overwrite=True,
        # every chunk holds data: skip zarr's scan of each chunk for the fill value
        config={"write_empty_chunks": True},
    )
    with dask_client():
        da.store(result.image, target, lock=False)
    wall = time.perf_counter() - start
    pixels = int(result.image.shape[0] * result.image.shape[1] * result.image.shape[2])
    print(json.dumps({"wall_s": wall, "pixels": pixels}))


def stage_reference(product: str, out: str) -> None:
    import xarray_sentinel

    start = time.perf_counter()
    measurement = xarray_sentinel.open_sentinel1_dataset(product, group="IW/VV")
    calibration = xarray_sentinel.open_sentinel1_dataset(product, group="IW/VV/calibration")
    sigma0 = xarray_sentinel.calibrate_intensity(
        measurement.measurement, calibration.sigmaNought, as_db=True
    )
    sigma0.to_dataset(name="sigma0").to_zarr(out, mode="w")
    wall = time.perf_counter() - start
    print(json.dumps({"wall_s": wall, "pixels": int(sigma0.size)}))


def synthetic_product(workdir: Path, layout: str) -> str:
    """The full-size product in ``layout``, written on first use (a few minutes)."""
    folder = workdir / layout
    folder.mkdir(parents=True, exist_ok=True)
    products = sorted(folder.glob("S1*.SAFE"))
    if not products:
        from geocolor.demo.s1 import write_synthetic_s1

        start = time.perf_counter()
        write_synthetic_s1(
            folder, lines=FULL_SIZE[0], samples=FULL_SIZE[1], seed=0, compress=LAYOUTS[layout]
        )
        print(f"{layout}: full-size product written in {time.perf_counter() - start:.0f} s")
        products = sorted(folder.glob("S1*.SAFE"))
    return str(products[0])


def compare(args: argparse.Namespace, layout: str) -> None:
    """Run and print both chains on the product in ``layout``."""
    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    workdir = Path(args.workdir)
    product = synthetic_product(workdir, layout)
    script = Path(__file__).resolve()
    runs = []
    for _ in range(args.repeat):
        runs.append(
            run_stage(
                script,
                *("--stage", "geocolor", "--product", product, "--chunk", str(args.chunk)),
                *("--codec", args.codec, "--out", str(workdir / "geocolor.zarr")),
            )
        )
        shutil.rmtree(workdir / "geocolor.zarr", ignore_errors=True)
    walls = sorted(run["wall_s"] for run in runs)
    wall = statistics.median(walls)
    mpix = runs[0]["pixels"] / 1e6 / wall
    rss = max(run["peak_rss_gib"] for run in runs)
    print(
        f"[{layout}] geocolor VV+VH sigma0+denoise+Lee7x7+dB->Zarr ({args.codec}): "
        f"median {wall:.1f} s of {', '.join(f'{w:.1f}' for w in walls)}; {mpix:.1f} MPix/s, "
        f"peak RSS {rss:.2f} GiB"
    )
    if args.skip_reference:
        return
    ref = run_stage(
        script, "--stage", "reference", "--product", product, "--out", str(workdir / "xs.zarr")
    )
    shutil.rmtree(workdir / "xs.zarr", ignore_errors=True)
    ref_mpix = ref["pixels"] / 1e6 / ref["wall_s"]
    print(
        f"[{layout}] xarray-sentinel VV sigma0 dB->Zarr: {ref['wall_s']:.1f} s, "
        f"{ref_mpix:.1f} MPix/s, peak RSS {ref['peak_rss_gib']:.2f} GiB"
    )
    print(
        f"[{layout}] speed-up (xarray-sentinel one pol / geocolor two pols): "
        f"{ref['wall_s'] / wall:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-s1")
    parser.add_argument("--layout", choices=[*LAYOUTS, "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of the geocolor chain.")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--chunk", type=int, default=256, help="Lines per Dask chunk.")
    parser.add_argument(
        "--codec", choices=["none", "lz4", "zstd"], default="none", help="Zarr compressor."
    )
    parser.add_argument("--stage", choices=["geocolor", "reference"])
    parser.add_argument("--product")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.stage == "geocolor":
        return stage_geocolor(args.product, args.out, args.chunk, args.codec)
    if args.stage == "reference":
        return stage_reference(args.product, args.out)
    for layout in LAYOUTS if args.layout == "both" else (args.layout,):
        compare(args, layout)


if __name__ == "__main__":
    main()
