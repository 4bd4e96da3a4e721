"""DEM rasters on UTM grids around a synthetic Sentinel-1 scene, built in code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.transform import from_origin

from geocolor.demo.landcover import SceneLayout
from geocolor.geo.grid import Grid

UTM = "EPSG:32632"


def grid_at_scene_centre(layout: SceneLayout, size: int, resolution: float = 10.0) -> Grid:
    """A ``size`` x ``size`` UTM 32N grid centred on the scene's middle pixel."""
    lon, lat = layout.lonlat((layout.lines - 1) / 2.0, (layout.samples - 1) / 2.0)
    x, y = Transformer.from_crs("EPSG:4326", UTM, always_xy=True).transform(float(lon), float(lat))
    half = size * resolution / 2.0
    transform = from_origin(round(x - half), round(y + half), resolution, resolution)
    return Grid(rasterio.crs.CRS.from_string(UTM), transform, size, size)


def ridge(grid: Grid, height: float, base: float = 100.0, width: float = 1500.0) -> np.ndarray:
    """A Gaussian ridge of ``height`` metres across the grid's middle, on a ``base`` plateau."""
    rows, cols = np.meshgrid(np.arange(grid.height), np.arange(grid.width), indexing="ij")
    resolution = grid.resolution[0]
    across = ((cols - grid.width / 2) * np.cos(0.3) + (rows - grid.height / 2) * np.sin(0.3)) * (
        resolution
    )
    heights: np.ndarray = base + height * np.exp(-((across / (width / 2)) ** 2))
    return heights.astype(np.float32)


def write_dem(path: Path, grid: Grid, heights: np.ndarray, crs: str | None = UTM) -> Path:
    """``heights`` as a GeoTIFF on ``grid`` (no CRS when ``crs`` is None)."""
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "float32",
        "transform": grid.transform,
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(heights.astype(np.float32), 1)
    return path
