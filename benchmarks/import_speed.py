"""`geocolor import bigearthnet` on N fake pairs: tiles/s, CPU, peak RSS and files in the store.

The packed import (64 patches per group: one file per modality and group) runs against
the same store schema with one group per patch (``--pack 1``), which is what writing
each 120 px patch as its own pair gives: a chunk file per patch and modality; that
comparison runs on the first ``--compare-pairs`` pairs only (it is two orders of
magnitude slower and its rate does not depend on the count). Each run happens in a
child process so its peak RSS is its own (the local Dask cluster runs in threads of
that process). CPU seconds are reported beside wall time, as a shared machine makes
wall time noisy. The fake dataset (:mod:`geocolor.demo.public_datasets`) is written
once, in parallel processes, into a temporary folder renamed when whole, and kept in
the work folder for the next run.

    python benchmarks/import_speed.py [--pairs 10000] [--compare-pairs 1000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Pairs each generating process writes at a time.
GENERATE_CHUNK = 500


def stage(root: str, store: str, pack: int, limit: int | None) -> None:
    from geocolor.cli import main
    from geocolor.prepare.store import open_store, read_tiles

    command = ["--quiet", "import", "bigearthnet", root, "-o", store, "--pack", str(pack)]
    start = time.perf_counter()
    code = main([*command, *(["--limit", str(limit)] if limit else [])])
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    tiles = len(read_tiles(open_store(store, "r")))
    files = sum(1 for path in Path(store).rglob("*") if path.is_file())
    print(json.dumps({"wall_s": wall, "tiles": tiles, "files": files}))


def _write_part(folder: str, first: int, count: int) -> None:
    from geocolor.demo.public_datasets import write_bigearthnet

    write_bigearthnet(Path(folder), count, first=first)


def fake_dataset(workdir: Path, pairs: int) -> Path:
    """The fake dataset of ``pairs`` pairs in ``workdir``, written once."""
    dataset = workdir / f"bigearthnet-{pairs}"
    if dataset.exists():
        return dataset
    partial = workdir / f".bigearthnet-{pairs}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    start = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        parts = [
            pool.submit(_write_part, str(partial), first, min(GENERATE_CHUNK, pairs - first))
            for first in range(0, pairs, GENERATE_CHUNK)
        ]
        for part in parts:
            part.result()
    partial.rename(dataset)
    print(f"{pairs} fake BigEarthNet pairs written in {time.perf_counter() - start:.0f} s")
    return dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--compare-pairs", type=int, default=1_000, help="0: no comparison")
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-import")
    parser.add_argument("--stage", action="store_true")
    parser.add_argument("--root")
    parser.add_argument("--store")
    parser.add_argument("--pack", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    if args.stage:
        return stage(args.root, args.store, args.pack, args.limit)

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    dataset = fake_dataset(workdir, args.pairs)
    runs = (
        ("packed, 64 patches per group", 64, args.pairs),
        ("a group per patch", 1, min(args.compare_pairs, args.pairs)),
    )
    for label, pack, limit in (run for run in runs if run[2] > 0):
        store = workdir / "store.zarr"
        shutil.rmtree(store, ignore_errors=True)
        result = run_stage(
            Path(__file__).resolve(),
            *("--stage", "--root", str(dataset), "--store", str(store)),
            *("--pack", str(pack), "--limit", str(limit)),
        )
        print(
            f"import, {label}: {result['tiles']} tiles in {result['wall_s']:.1f} s, "
            f"{result['tiles'] / result['wall_s']:.0f} tiles/s "
            f"({result['tiles'] / result['cpu_s']:.0f} per CPU second), "
            f"peak RSS {result['peak_rss_gib']:.2f} GiB, {result['files']} files in the store"
        )
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
