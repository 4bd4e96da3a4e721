"""Scratch ``.npy`` spills, and colorize's promise to need no array store or training code.

``tests/test_architecture.py`` checks the same of ``geocolor.colorize.pipeline``, which also
depends on ``geocolor.models``; here the readers and the spill are checked on their own.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

from geocolor.io.spill import shares_disk, spill, spilled_lazily

FORBIDDEN = ("zarr", "geocolor.prepare", "geocolor.train")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as local:
        yield local


def image() -> da.Array:
    values = np.random.default_rng(0).normal(size=(2, 70, 90)).astype(np.float32)
    values[:, 5:9, 10:30] = np.nan
    return da.from_array(values, chunks=(1, 32, 40))


def test_local_workers_write_the_file_and_it_reads_back_lazily(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    with Client(cluster) as client:
        assert shares_disk(client)
        spilled = spill(image(), tmp_path / "scene.npy", client)
        np.testing.assert_array_equal(spilled, image().compute())
        lazy = spilled_lazily(image() + 1, tmp_path / "held.npy", client)
        assert lazy.chunks == image().chunks
        np.testing.assert_array_equal(lazy.compute(), image().compute() + 1)


def test_a_remote_cluster_sends_the_blocks_here(cluster: LocalCluster, tmp_path: Path) -> None:
    with Client(cluster.scheduler_address) as client:
        assert not shares_disk(client)
        spilled = spill(image(), tmp_path / "scene.npy", client)
        np.testing.assert_array_equal(spilled, image().compute())
        with pytest.raises(ValueError, match="cannot read"):
            spilled_lazily(image(), tmp_path / "held.npy", client)


def imported_by(module: str) -> list[str]:
    """The forbidden modules a fresh interpreter holds after importing ``module``."""
    code = (
        f"import sys, {module}\n"
        f"print('\\n'.join(m for m in sys.modules if m.startswith({FORBIDDEN!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


def test_colorize_readers_import_no_store_and_no_training_code() -> None:
    assert imported_by("geocolor.colorize.readers") == []
    assert imported_by("geocolor.io.spill") == []
