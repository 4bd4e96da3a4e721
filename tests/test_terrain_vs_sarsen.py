"""Terrain correction against sarsen's, on a synthetic product over a real ridge."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.s1.backscatter import S1Config, backscatter
from geocolor.s1.safe import open_safe
from tests.local_shifts import local_shifts, phase_shift
from tests.terrain_factory import grid_at_scene_centre, ridge, write_dem

if os.environ.get("CI") != "true":
    pytest.importorskip("sarsen", reason="sarsen (the bench extra) is not installed")

LAYOUT = SceneLayout(lines=700, samples=700)
RIDGE_METRES = 900.0


def sarsen_gtc(product: Path, dem: Path, out: Path) -> np.ndarray:
    """sarsen's GTC of VV beta0 on the DEM's grid, bilinear, rows north-up."""
    import sarsen
    from sarsen import apps

    measurement = sarsen.Sentinel1SarProduct(str(product), measurement_group="IW/VV")
    apps.terrain_correction(
        measurement, str(dem), output_urlpath=str(out), interp_method="linear", chunks=None
    )
    with rasterio.open(out) as src:
        image: np.ndarray = src.read(1)
        # sarsen writes its y axis ascending: south-up
        return image[::-1] if src.transform.e > 0 else image


def test_phase_shift_finds_a_known_shift() -> None:
    image = np.random.default_rng(0).gamma(4.0, size=(64, 64))
    assert np.allclose(phase_shift(image, np.roll(image, (2, -3), (0, 1))), (-2, 3), atol=0.01)


def test_terrain_correction_agrees_with_sarsen(tmp_path: Path) -> None:
    product = write_synthetic_s1(tmp_path, layout=LAYOUT, polarisations=("VV",), seed=7)
    grid = grid_at_scene_centre(LAYOUT, 384)
    dem = write_dem(tmp_path / "ridge.tif", grid, ridge(grid, RIDGE_METRES))
    reference = sarsen_gtc(product, dem, tmp_path / "sarsen.tif")
    config = S1Config(
        measure="beta0",
        denoise=False,
        speckle="none",
        db=False,
        grid=str(dem),
        dem=str(dem),
        polarisations=("VV",),
    )
    ours = backscatter(open_safe(product), config).image.compute()[0]
    shifts = local_shifts(reference, ours, window=64)
    assert shifts.size >= 30
    assert np.percentile(shifts, 95) <= 0.5
    # the geolocation-grid warp ignores the ridge: the comparison must be able to see that
    flat = backscatter(open_safe(product), config.model_copy(update={"dem": None}))
    assert np.percentile(local_shifts(reference, flat.image.compute()[0]), 95) > 5.0
