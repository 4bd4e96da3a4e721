"""`geocolor prepare` on one full-size synthetic pair: wall time, tiles/s, peak RSS.

The pair is a dual-pol IW GRDH frame (16 704 x 26 100 per polarisation) and the 10 980 x
10 980 Sentinel-2 tile at 10 m over the same land cover. The run happens in a child
process so its peak RSS is its own.

    python benchmarks/prepare_store.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
S1_CACHE = Path("/tmp/geocolor-bench-s1/deflate")  # the compact product of s1_chain.py


def stage(s1: str, s2: str, store: str) -> None:
    from geocolor.cli import main
    from geocolor.prepare.store import open_store, read_tiles

    start = time.perf_counter()
    code = main(["--quiet", "prepare", "--s1", s1, "--s2", s2, "-o", store])
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(code)
    tiles = len(read_tiles(open_store(store, "r")))
    print(json.dumps({"wall_s": wall, "tiles": tiles}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", default="/tmp/geocolor-bench-prepare")
    parser.add_argument("--stage", action="store_true")
    parser.add_argument("--s1")
    parser.add_argument("--s2")
    parser.add_argument("--store")
    args = parser.parse_args()
    if args.stage:
        return stage(args.s1, args.s2, args.store)

    sys.path.insert(0, str(HERE))
    from _measure import run_stage

    from geocolor.demo.landcover import SceneLayout
    from geocolor.demo.s1 import write_synthetic_s1
    from geocolor.demo.s2 import write_synthetic_s2

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    layout = SceneLayout()
    s1 = sorted(S1_CACHE.glob("S1*.SAFE")) or sorted(workdir.glob("S1*.SAFE"))
    if not s1:
        start = time.perf_counter()
        write_synthetic_s1(workdir, layout=layout, seed=0)
        print(f"synthetic S1 frame written in {time.perf_counter() - start:.0f} s")
        s1 = sorted(workdir.glob("S1*.SAFE"))
    s2 = sorted(workdir.glob("S2*.SAFE"))
    if not s2:
        start = time.perf_counter()
        write_synthetic_s2(workdir, layout=layout, seed=0, size=10980, jp2=False)
        print(f"synthetic S2 tile written in {time.perf_counter() - start:.0f} s")
        s2 = sorted(workdir.glob("S2*.SAFE"))
    store = workdir / "store.zarr"
    shutil.rmtree(store, ignore_errors=True)
    result = run_stage(
        Path(__file__).resolve(),
        *("--stage", "--s1", str(s1[0]), "--s2", str(s2[0]), "--store", str(store)),
    )
    print(
        f"prepare, one full-size pair: {result['wall_s']:.1f} s, {result['tiles']} tiles kept, "
        f"{result['tiles'] / result['wall_s']:.2f} tiles/s, "
        f"peak RSS {result['peak_rss_gib']:.2f} GiB"
    )
    shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
