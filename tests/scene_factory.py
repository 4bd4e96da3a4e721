"""Inputs of the app's tests: small processed Sentinel-1 scenes and a tiny registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import numpy as np
import pytest
import rasterio
from affine import Affine

from tests.model_factory import log_tiny_model

#: WGS 84 / UTM 31N, where the test scenes lie (around 3° E, 45° N).
CRS = "EPSG:32631"
ORIGIN = (500_000.0, 5_000_000.0)
RESOLUTION = 10.0
BANDS = ("VV sigma0 dB", "VH sigma0 dB")


def write_scene(path: Path, size: int = 300, nodata_rows: int = 0) -> Path:
    """A (VV, VH) sigma0 dB GeoTIFF of ``size`` x ``size`` pixels at 10 m, NaN as nodata.

    The backscatter varies smoothly, so colours vary; the first ``nodata_rows`` rows
    are NaN, as at a swath edge.
    """
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float32)
    vv = -12.0 + 6.0 * np.sin(rows / 23.0) * np.cos(cols / 31.0)
    vh = vv - 7.0
    image = np.stack([vv, vh]).astype(np.float32)
    image[:, :nodata_rows] = np.nan
    transform = Affine(RESOLUTION, 0, ORIGIN[0], 0, -RESOLUTION, ORIGIN[1])
    profile = {
        "driver": "GTiff",
        "width": size,
        "height": size,
        "count": 2,
        "dtype": "float32",
        "crs": CRS,
        "transform": transform,
        "nodata": float("nan"),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(image)
        dst.descriptions = BANDS
    return path


@contextmanager
def tiny_registry(folder: Path) -> Iterator[str]:
    """A sqlite MLflow in ``folder`` whose model ``geocolor`` v1 holds ``prod-candidate``.

    MLflow's global tracking URI is reset on exit, so later tests see their own.
    """
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # artifacts go to ./mlruns
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        log_tiny_model(uri)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(None)
