"""Colorized results the app keeps on disk and serves to the map as tiles.

Each result lives in a folder named by a hash of everything that determines it (scene,
model version, AOI, settings), so a rerun or a second visitor asking for the same thing
reuses it, drift verdict included (the report ``colorize`` writes beside the COG).
Beside the COG sits a grey COG of the SAR it came from, on the same grid; the map
shows both as tiles cut on request (:mod:`geocolor.app.tiles`), so the page never
carries an image inline and the result is sharp at every zoom.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor.app.drift_badge import NO_REFERENCE, DriftStatus
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.colorize.readers import scene_reader
from geocolor.errors import GeocolorError, one_line
from geocolor.geo.grid import LONLAT
from geocolor.io.cog import cog_staging
from geocolor.models.logged import LoadedModel
from geocolor.models.monitoring import SIDECAR_SUFFIX


@dataclass(frozen=True)
class ResultFiles:
    """The files of one result, all in ``folder``."""

    folder: Path

    @property
    def key(self) -> str:
        """The hash naming the result."""
        return self.folder.name

    @property
    def cog(self) -> Path:
        """The colorized Cloud-Optimised GeoTIFF."""
        return self.folder / "colorized.tif"

    @property
    def sar(self) -> Path:
        """Grey COG of the model's first SAR band on the colour's grid."""
        return self.folder / "sar.tif"

    @property
    def drift_report(self) -> Path:
        """The drift report ``colorize`` writes beside the COG (none without a reference)."""
        return self.cog.with_name(self.cog.name + SIDECAR_SUFFIX)

    @property
    def overlay(self) -> Path:
        """JSON with the COGs' lon/lat bounds; written last, so it marks a finished result."""
        return self.folder / "overlay.json"


def result_key(scene: str, model_uri: str, aoi: BaseGeometry | None, config: ColorizeConfig) -> str:
    """A short hash of what determines a result (a changed scene file changes it too)."""
    scene_path = Path(scene)
    stamp = scene_path.stat().st_mtime_ns if scene_path.exists() else 0
    parts = [scene, str(stamp), model_uri, aoi.wkt if aoi else "", config.model_dump_json()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def bounds_of(files: ResultFiles) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((south, west), (north, east)) of a finished result's COGs; None if unfinished."""
    if not files.overlay.is_file():
        return None
    (south, west), (north, east) = json.loads(files.overlay.read_text())["bounds"]
    return (south, west), (north, east)


def drift_status(files: ResultFiles) -> DriftStatus:
    """A finished result's drift verdict, from the report beside its COG."""
    if not files.drift_report.is_file():
        return NO_REFERENCE
    try:
        report = json.loads(files.drift_report.read_text())
    except (OSError, ValueError) as exc:
        raise GeocolorError(f"the result's drift report cannot be read ({one_line(exc)})") from None
    return DriftStatus.from_report(report)


def make_result(
    files: ResultFiles,
    scene: str,
    model: LoadedModel,
    aoi: BaseGeometry | None,
    config: ColorizeConfig,
    progress: Callable[[int, int], None] | None = None,
    input_name: str | None = None,
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Colorize into ``files`` unless already done, then write the SAR COG; their bounds.

    ``input_name`` names the scene in the COG's tags (see :func:`colorize`).
    """
    done = bounds_of(files)
    if done is not None:
        return done
    files.folder.mkdir(parents=True, exist_ok=True)
    colorize(
        scene,
        model,
        str(files.cog),
        aoi=aoi,
        config=config,
        progress=progress,
        input_name=input_name,
    )
    write_sar_cog(files.sar, scene, model, aoi, config)
    bounds = lonlat_bounds(files.cog)
    files.overlay.write_text(json.dumps({"bounds": bounds}))
    return bounds


def lonlat_bounds(cog: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    """((south, west), (north, east)) of a COG, for Leaflet."""
    with rasterio.open(cog) as src:
        west, south, east, north = transform_bounds(src.crs, LONLAT, *src.bounds)
    return (south, west), (north, east)


def write_sar_cog(
    path: Path,
    scene: str,
    model: LoadedModel,
    aoi: BaseGeometry | None,
    config: ColorizeConfig,
    strip_rows: int = 512,
) -> None:
    """A grey COG of the model's first SAR band on the colour's grid, stretched as trained.

    The scene goes through the reader ``colorize`` uses, with its AOI and grid
    settings, so the grey is what the model saw, pixel for pixel; it is written in
    strips, so memory stays bounded by a strip whatever the scene's size.
    """
    norm = model.normalisation
    low, high = norm.sar_low[0], norm.sar_high[0]
    with scene_reader(
        scene,
        norm.sar_bands[:1],
        model.sar_processing,
        aoi=aoi,
        crs=config.crs,
        resolution=config.resolution,
        beside=str(path),
    ) as reader:
        grid = reader.grid
        profile = {
            "width": grid.width,
            "height": grid.height,
            "count": 1,
            "dtype": "uint8",
            "crs": grid.crs,
            "transform": grid.transform,
        }
        mask_env = {"GDAL_TIFF_INTERNAL_MASK": True}
        with cog_staging(str(path), profile, "DEFLATE", "AVERAGE", mask_env) as dst:
            for row0 in range(0, grid.height, strip_rows):
                rows = min(strip_rows, grid.height - row0)
                db = reader.read(row0, 0, rows, grid.width)[0]
                grey = np.clip((np.nan_to_num(db, nan=low) - low) / (high - low) * 255, 0, 255)
                window = Window(0, row0, grid.width, rows)
                dst.write(np.rint(grey).astype(np.uint8)[None], window=window)
                dst.write_mask(np.where(np.isfinite(db), 255, 0).astype(np.uint8), window=window)
