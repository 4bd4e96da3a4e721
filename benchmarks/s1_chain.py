"""Sentinel-1 chain throughput on a full-size synthetic IW GRDH dual-pol product.

geocolor: read -> sigma0 -> thermal denoise -> Lee 7x7 -> dB -> Zarr, both
polarisations, on the local Dask cluster, radar geometry. Reference, in the same run:
xarray-sentinel's ``calibrate_intensity`` (sigma0, dB) of one polarisation to Zarr.
Each stage runs in its own process so its peak RSS is its own.

    python benchmarks/s1_chain.py [--workdir DIR] [--skip-reference]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FULL_SIZE = (16704, 26100)


def stage_geocolor(product: str, out: str, chunk: int) -> None:
    import dask.array as da
    import zarr

    from geocolor.cluster import dask_client
    from geocolor.safe import open_safe
    from geocolor.sentinel1 import S1Config, backscatter

    start = time.perf_counter()
    result = backscatter(
        open_safe(product), S1Config(grid="radar", speckle="lee", window=7, chunk=chunk)
    )
    # LZ4: an analysis-ready intermediate is written for speed, not for archiving
    codec = zarr.codecs.BloscCodec(cname="lz4", clevel=1, shuffle="shuffle")
    target = zarr.create_array(
        out,
        shape=result.image.shape,
        chunks=tuple(max(axis) for axis in result.image.chunks),
        dtype="float32",
        compressors=[codec],
        overwrite=True,
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-s1")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--chunk", type=int, default=256, help="Lines per Dask chunk.")
    parser.add_argument("--stage", choices=["geocolor", "reference"])
    parser.add_argument("--product")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.stage == "geocolor":
        return stage_geocolor(args.product, args.out, args.chunk)
    if args.stage == "reference":
        return stage_reference(args.product, args.out)

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    from geocolor.synthetic_s1 import write_synthetic_s1

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    products = sorted(workdir.glob("S1*.SAFE"))
    if not products:
        start = time.perf_counter()
        write_synthetic_s1(workdir, lines=FULL_SIZE[0], samples=FULL_SIZE[1], seed=0)
        print(f"synthetic full-size product written in {time.perf_counter() - start:.0f} s")
        products = sorted(workdir.glob("S1*.SAFE"))
    product = str(products[0])
    script = Path(__file__).resolve()

    ours = run_stage(
        script,
        *("--stage", "geocolor", "--product", product, "--chunk", str(args.chunk)),
        *("--out", str(workdir / "geocolor.zarr")),
    )
    mpix = ours["pixels"] / 1e6 / ours["wall_s"]
    print(
        f"geocolor  VV+VH sigma0+denoise+Lee7x7+dB->Zarr: {ours['wall_s']:.1f} s, "
        f"{mpix:.1f} MPix/s, peak RSS {ours['peak_rss_gib']:.2f} GiB"
    )
    if not args.skip_reference:
        ref = run_stage(
            script, "--stage", "reference", "--product", product, "--out", str(workdir / "xs.zarr")
        )
        ref_mpix = ref["pixels"] / 1e6 / ref["wall_s"]
        print(
            f"xarray-sentinel VV sigma0 dB->Zarr: {ref['wall_s']:.1f} s, {ref_mpix:.1f} MPix/s, "
            f"peak RSS {ref['peak_rss_gib']:.2f} GiB"
        )
        ratio = ref["wall_s"] / ours["wall_s"]
        print(f"speed-up (xarray-sentinel one pol / geocolor two pols): {ratio:.1f}x")
    for name in ("geocolor.zarr", "xs.zarr"):
        shutil.rmtree(workdir / name, ignore_errors=True)


if __name__ == "__main__":
    main()
