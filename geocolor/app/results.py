"""Colorized results the app keeps on disk and the browser fetches as files.

Each result lives in a folder named by a hash of everything that determines it (scene,
model version, AOI, settings), so a rerun or a second visitor asking for the same thing
reuses it, drift verdict included (the report ``colorize`` writes beside the COG).
Beside the COG sit two small PNG renditions on one Web-Mercator grid — the
colour and the SAR it came from — that Leaflet lays over the basemap by URL, so the
page never carries the image inline.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning
from rasterio.warp import reproject, transform_bounds
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from geocolor.app.drift_badge import NO_REFERENCE, DriftStatus
from geocolor.app.settings import load_settings
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.colorize.readers import scene_reader
from geocolor.errors import GeocolorError, one_line
from geocolor.geo.grid import LONLAT, Grid, reproject_geometry
from geocolor.models.logged import LoadedModel
from geocolor.models.monitoring import SIDECAR_SUFFIX

WEB_MERCATOR = CRS.from_epsg(3857)
#: URL path under which the app server serves the results folder.
RESULTS_ROUTE = "/geocolor-results"
#: Longest side of a PNG rendition, in pixels.
PREVIEW_PIXELS = 1024


def result_routes() -> list[BaseRoute]:
    """The app server's route ``RESULTS_ROUTE/<key>/<file>`` to the settings' results folder."""
    results = load_settings().results
    results.mkdir(parents=True, exist_ok=True)
    return [Mount(RESULTS_ROUTE, app=StaticFiles(directory=results), name="results")]


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
    def colour(self) -> Path:
        """RGBA PNG of the colour result in Web Mercator."""
        return self.folder / "colour.png"

    @property
    def sar(self) -> Path:
        """Grey RGBA PNG of the model's first SAR band on the same grid."""
        return self.folder / "sar.png"

    @property
    def drift_report(self) -> Path:
        """The drift report ``colorize`` writes beside the COG (none without a reference)."""
        return self.cog.with_name(self.cog.name + SIDECAR_SUFFIX)

    @property
    def overlay(self) -> Path:
        """JSON with the PNGs' lon/lat bounds; written last, so it marks a finished result."""
        return self.folder / "overlay.json"


def result_key(scene: str, model_uri: str, aoi: BaseGeometry | None, config: ColorizeConfig) -> str:
    """A short hash of what determines a result (a changed scene file changes it too)."""
    scene_path = Path(scene)
    stamp = scene_path.stat().st_mtime_ns if scene_path.exists() else 0
    parts = [scene, str(stamp), model_uri, aoi.wkt if aoi else "", config.model_dump_json()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def bounds_of(files: ResultFiles) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """((south, west), (north, east)) of a finished result's PNGs; None if unfinished."""
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
    """Colorize into ``files`` unless already done, render both PNGs; their bounds.

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
    grid = preview_grid(files.cog)
    write_png(files.colour, colour_rgba(files.cog, grid))
    write_png(files.sar, sar_rgba(scene, model, aoi, grid))
    west, south, east, north = reproject_geometry(box(*grid.bounds), grid.crs, LONLAT).bounds
    bounds = (south, west), (north, east)
    files.overlay.write_text(json.dumps({"bounds": bounds}))
    return bounds


def preview_grid(cog: Path, pixels: int = PREVIEW_PIXELS) -> Grid:
    """A Web-Mercator grid covering the COG, as fine as it but at most ``pixels`` a side."""
    with rasterio.open(cog) as src:
        left, bottom, right, top = transform_bounds(src.crs, WEB_MERCATOR, *src.bounds)
        native = (right - left) / src.width
    resolution = max(native, (right - left) / pixels, (top - bottom) / pixels)
    width = max(math.ceil((right - left) / resolution), 1)
    height = max(math.ceil((top - bottom) / resolution), 1)
    transform = Affine(resolution, 0, left, 0, -resolution, top)
    return Grid(WEB_MERCATOR, transform, width, height)


def colour_rgba(cog: Path, grid: Grid) -> np.ndarray:
    """(4, rows, cols) uint8: the COG's RGB on ``grid``, transparent where it has no data.

    The COG is read at about the preview's resolution, so its overviews do the work.
    """
    with rasterio.open(cog) as src:
        scale = max(src.width / grid.width, src.height / grid.height, 1.0)
        shape = (max(round(src.height / scale), 1), max(round(src.width / scale), 1))
        rgb = src.read([1, 2, 3], out_shape=(3, *shape), resampling=Resampling.average)
        mask = src.dataset_mask(out_shape=shape, resampling=Resampling.nearest)
        transform = src.transform * Affine.scale(src.width / shape[1], src.height / shape[0])
        source = np.concatenate([rgb, mask[None]]).astype(np.uint8)
        return _warp(source, transform, src.crs, grid, Resampling.bilinear)


def sar_rgba(scene: str, model: LoadedModel, aoi: BaseGeometry | None, grid: Grid) -> np.ndarray:
    """(4, rows, cols) uint8: the model's first SAR band stretched over its training range.

    The scene goes through the same reader ``colorize`` uses, at the preview's
    resolution, so the grey is what the model saw.
    """
    norm = model.normalisation
    with scene_reader(
        scene,
        norm.sar_bands[:1],
        model.sar_processing,
        aoi=aoi,
        crs=str(grid.crs),
        resolution=grid.resolution[0],
    ) as reader:
        db = reader.read(0, 0, reader.grid.height, reader.grid.width)[0]
        low, high = norm.sar_low[0], norm.sar_high[0]
        grey = np.clip((np.nan_to_num(db, nan=low) - low) / (high - low) * 255, 0, 255)
        alpha = np.where(np.isfinite(db), 255, 0)
        source = np.stack([grey, grey, grey, alpha]).astype(np.uint8)
        return _warp(source, reader.grid.transform, reader.grid.crs, grid, Resampling.nearest)


def _warp(
    source: np.ndarray, transform: Affine, crs: CRS, grid: Grid, resampling: Resampling
) -> np.ndarray:
    out = np.zeros((source.shape[0], grid.height, grid.width), dtype=np.uint8)
    reproject(
        source,
        out,
        src_transform=transform,
        src_crs=crs,
        dst_transform=grid.transform,
        dst_crs=grid.crs,
        resampling=resampling,
    )
    return out


def write_png(path: Path, rgba: np.ndarray) -> None:
    """An RGBA PNG, written under a temporary name and then renamed."""
    partial = path.with_name(f".{path.name}")
    profile = {"driver": "PNG", "count": 4, "dtype": "uint8"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        size = {"width": rgba.shape[2], "height": rgba.shape[1]}
        with rasterio.open(partial, "w", **size, **profile) as dst:
            dst.write(rgba)
    partial.replace(path)
