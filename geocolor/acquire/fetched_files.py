"""How every fetched file is written, whichever data source it came from.

Sentinel Hub's and STAC's fetches write the same GeoTIFFs (layout, tags, staging), so
that ``prepare`` and ``colorize`` read them alike and a rerun recognises finished work.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from geocolor import __version__
from geocolor.acquire.catalog import Acquisition
from geocolor.geo.grid import Grid

#: Internal tile side of a fetched GeoTIFF.
BLOCK = 256


def provenance_tags(source: str, acquisition: Acquisition, run_key: str) -> dict[str, str]:
    """The GeoTIFF tags every fetched file carries, whichever source it came from.

    ``request_key`` lets a rerun tell its own finished output from another request's.
    """
    return {
        "geocolor_version": __version__,
        "source": source,
        "input_products": ",".join(product.product_id for product in acquisition.products),
        "acquisition_times": ",".join(product.time.isoformat() for product in acquisition.products),
        "request_key": run_key,
    }


@contextmanager
def staged_acquisition(
    folder: Path, name: str, target: Path, single_file: str | None
) -> Iterator[Path]:
    """A fresh hidden folder for one acquisition's files, moved to ``target`` once all are written.

    ``single_file``: the one file moved to ``target`` instead of the folder. An
    interrupted fetch leaves nothing at ``target``, so a rerun never takes it as done.
    """
    staging = folder / f".{name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        (staging / single_file if single_file else staging).replace(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def output_profile(grid: Grid, count: int, dtype: str, nodata: float) -> dict[str, Any]:
    """How every fetched GeoTIFF is stored: tiled, DEFLATE with a predictor, on ``grid``."""
    floating = np.issubdtype(np.dtype(dtype), np.floating)
    return {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": count,
        "dtype": dtype,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": nodata,
        "tiled": True,
        "blockxsize": BLOCK,
        "blockysize": BLOCK,
        "compress": "DEFLATE",
        "predictor": 3 if floating else 2,
        "bigtiff": "IF_SAFER",
    }
