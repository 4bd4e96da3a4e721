"""`geocolor import bigearthnet` on N fake pairs: tiles/s, peak RSS and files in the store.

The packed import (64 patches per group: one file per modality and group) runs against
the same store schema with one group per patch (``--pack 1``), which is what writing
each 120 px patch as its own pair gives: a chunk file per patch and modality. Each run
happens in a child process so its peak RSS is its own. The fake dataset
(:mod:`geocolor.demo.public_datasets`) is written once and kept in the work folder.

    python benchmarks/import_speed.py [--pairs 10000] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def stage(root: str, store: str, pack: int) -> None:
    from geocolor.cli import main
    from geocolor.prepare.store import open_store, read_tiles

    start = time.perf_counter()
    code = main(["--quiet", "import", "bigearthnet", root, "-o", store, "--pack", str(pack)])
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    tiles = len(read_tiles(open_store(store, "r")))
    files = sum(1 for path in Path(store).rglob("*") if path.is_file())
    print(json.dumps({"wall_s": wall, "tiles": tiles, "files": files}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-import")
    parser.add_argument("--stage", action="store_true")
    parser.add_argument("--root")
    parser.add_argument("--store")
    parser.add_argument("--pack", type=int, default=64)
    args = parser.parse_args()
    if args.stage:
        return stage(args.root, args.store, args.pack)

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    from geocolor.demo.public_datasets import write_bigearthnet

    dataset = Path(args.workdir) / f"bigearthnet-{args.pairs}"
    if not dataset.exists():
        start = time.perf_counter()
        write_bigearthnet(dataset, args.pairs)
        print(f"{args.pairs} fake BigEarthNet pairs written in {time.perf_counter() - start:.0f} s")
    for label, pack in (("packed, 64 patches per group", 64), ("a group per patch", 1)):
        store = Path(args.workdir) / "store.zarr"
        shutil.rmtree(store, ignore_errors=True)
        result = run_stage(
            Path(__file__).resolve(),
            *("--stage", "--root", str(dataset), "--store", str(store), "--pack", str(pack)),
        )
        print(
            f"import, {label}: {result['tiles']} tiles in {result['wall_s']:.1f} s, "
            f"{result['tiles'] / result['wall_s']:.0f} tiles/s, "
            f"peak RSS {result['peak_rss_gib']:.2f} GiB, {result['files']} files in the store"
        )
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
