"""``colorize``: a whole Sentinel-1 scene, clipped to an AOI, into a seam-free colour COG.

The scene is read tile by tile on its output grid (:mod:`geocolor.colorize.readers`), each batch of
overlapping tiles goes through the model, and the predictions are blended with
raised-cosine hand-overs and streamed out in strips (:mod:`geocolor.colorize.mosaic`) into a
tiled GeoTIFF that GDAL then lays out as a COG (:mod:`geocolor.io.cog`).

Seams have a second cause besides tile edges: instance normalisation computes its
statistics per tile, so each tile is stretched differently. The model's norm layers are
therefore switched to statistics that do not depend on the tile: ``"scene"`` (the
default: pooled over windows sampled from this scene, in one exact pass with the final
weights) or ``"frozen"`` (running averages learnt in training, which make a pixel's
colour independent of the AOI, but lag the weights of a briefly trained model).
``"tile"`` keeps the per-tile behaviour for comparison.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pydantic
import rasterio
import rasterio.features
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import ColorInterp
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor import __version__
from geocolor.colorize.blending import (
    Span,
    axis_spans,
    default_overlap,
    redundancy,
    round_up,
)
from geocolor.colorize.drift_check import (
    DriftError,
    assess,
    check_facts,
    drift_tags,
    facts_of_scene,
    write_sidecar,
)
from geocolor.colorize.mosaic import blend
from geocolor.colorize.readers import SceneReader, open_scene, scene_reader
from geocolor.colorize.stac_item import write_item
from geocolor.config import Config, Precision
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.aoi import load_aoi
from geocolor.geo.grid import LONLAT, Grid, reproject_geometry
from geocolor.io.cog import cog_staging
from geocolor.models.device import resolve_device
from geocolor.models.drift import DriftReport, DriftThresholds
from geocolor.models.layers import set_norm_mode
from geocolor.models.logged import LoadedModel, load_model
from geocolor.models.monitoring import log_colorization
from geocolor.models.precision import Choice, Tolerance, choose
from geocolor.models.rgb import RGB_BANDS, rgb_band_indices, white_reflectance
from geocolor.models.scene_statistics import (
    STATISTICS_TILES,
    statistics_windows,
    use_scene_statistics,
)

log = logging.getLogger("geocolor.colorize.pipeline")

# scene windows that calibrate int8 and on which reduced precisions are compared with fp32
CALIBRATION_WINDOWS = 2


class ColorizeConfig(Config):
    """How ``colorize`` tiles, normalises and writes (keys of ``pipelines/colorize.yaml``)."""

    tile_size: int = pydantic.Field(default=512, ge=16)
    overlap: int | None = pydantic.Field(default=None, ge=0)
    batch_size: int = pydantic.Field(default=4, ge=1)
    norm: Literal["scene", "frozen", "tile"] = "scene"
    statistics_tiles: int = pydantic.Field(default=STATISTICS_TILES, ge=1)
    #: Reflectance shown as full brightness; None: the top of the model's training
    #: range (:func:`~geocolor.models.rgb.white_reflectance`).
    max_reflectance: float | None = pydantic.Field(default=None, gt=0)
    crs: str | None = None
    resolution: float | None = pydantic.Field(default=None, gt=0)
    device: str = "auto"
    compress: Literal["DEFLATE", "ZSTD"] = "DEFLATE"
    panel_width: int = pydantic.Field(default=4096, ge=256)
    drift: DriftThresholds = DriftThresholds()
    fail_on_drift: bool = False
    #: Log an MLflow run per colorization (``geocolor-monitoring``); None: when the
    #: model came from a tracking server (``models:/``, ``runs:/``).
    monitor: bool | None = None
    #: Numeric precision of inference (:mod:`geocolor.models.precision`); ``auto``
    #: measures bf16 and int8 against fp32 on windows of the scene.
    precision: Precision = "fp32"
    #: Least PSNR (dB) against fp32 for ``auto`` to keep bf16 / int8.
    min_psnr_bf16: float = 40.0
    min_psnr_int8: float = 35.0
    #: ``torch.compile`` the generator on a GPU (slow start, faster tiles).
    compile: bool = False

    @pydantic.model_validator(mode="after")
    def _overlap_inside_the_tile(self) -> ColorizeConfig:
        # checked before any work: a SAFE scene is processed before tiles are planned
        if self.overlap is not None and self.overlap >= self.tile_size:
            raise ValueError(f"overlap {self.overlap} must be smaller than tile_size")
        return self


@dataclass(frozen=True)
class ColorizeResult:
    """What was written, and where it lies."""

    path: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    bounds: tuple[float, float, float, float]
    tiles: int
    redundancy: float
    tags: dict[str, str]
    #: How the scene compares with the training input; None for a model without a reference.
    drift: DriftReport | None = None


def colorize(
    scene: str | Mapping[str, str],
    model: str | LoadedModel,
    output: str,
    *,
    aoi: str | BaseGeometry | None = None,
    config: ColorizeConfig | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    input_name: str | None = None,
) -> ColorizeResult:
    """Colorize ``scene`` (clipped to ``aoi``) with ``model`` into the COG ``output``.

    Parameters
    ----------
    scene
        GRD SAFE folder or zip, a processed backscatter raster (sigma0 dB bands named
        by polarisation), a folder of ``<name>_VV.tif``/``<name>_VH.tif`` band files,
        or any scene a reader plugin opens; local or a URL. Or ``{"VV": path, "VH":
        path}``, one single-band file per polarisation. Bands without descriptions (a
        public dataset's own files) are read in the model's measure and unit
        (:func:`~geocolor.colorize.readers.open_scene`).
    model
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/...``, a local model
        folder, or a loaded model.
    output
        Destination COG (local path or URL); written under a temporary name first.
    aoi
        Lon/lat geometry, or a bbox ``minx,miny,maxx,maxy`` / GeoJSON / WKT file; None
        for the whole scene.
    config
        Tiling, normalisation and output settings.
    scheduler
        Dask scheduler that computes the scene onto its grid (a local cluster when None).
    progress
        Called with (tiles done, tiles in all); an exception it raises stops the work
        and leaves no output.
    input_name
        How the COG's ``input`` tag, its STAC Item and the monitoring run name the
        scene; ``scene`` itself when None. A server (the app) passes the file's name,
        so its folders are not written into what users download.

    Returns
    -------
    ColorizeResult
        What was written, with the scene's drift report (None when the model has no
        drift reference); the report is also in the COG's tags ``drift_verdict`` and
        ``drift_summary``, in the sidecar ``OUTPUT.drift.json`` and, when monitoring is
        on, in a run of the ``geocolor-monitoring`` experiment. The COG's STAC Item is
        written beside it last (``OUT.tif`` -> ``OUT.json``), so an Item always
        describes a whole COG; a scene of unknown acquisition time gets none.

    Raises
    ------
    DriftError
        Before anything is written, when the scene lacks a polarisation the model
        reads, or its verdict is ``drift`` and ``config.fail_on_drift`` is set.
    """
    config = config or ColorizeConfig()
    region = load_aoi(aoi) if isinstance(aoi, str) else aoi  # before a model download
    loaded = (
        model
        if isinstance(model, LoadedModel)
        else load_model(model, resolve_device(config.device))
    )
    rgb = rgb_channels(loaded)
    white = config.max_reflectance or white_reflectance(loaded.normalisation, rgb)
    scene, source = open_scene(scene, loaded.normalisation.sar_bands, loaded.sar_processing)
    facts = facts_of_scene(source, loaded)
    monitored = _monitoring(loaded, input_name or scene, config)
    try:
        check_facts(loaded, facts, config.drift, config.fail_on_drift)
        with scene_reader(
            scene,
            loaded.normalisation.sar_bands,
            loaded.sar_processing,
            region,
            config.crs,
            config.resolution,
            scheduler,
            source=source,
            beside=output,
        ) as reader:
            grid = reader.grid
            plan = plan_tiles(grid, loaded, config)
            report = assess(loaded, reader, facts, config.drift, config.fail_on_drift)
            prepare_norm(loaded, reader, config)
            precision = choose_precision(loaded, reader, config)
            tags = {
                **_tags(
                    input_name or scene, loaded, reader, region, config, plan.tile, plan.overlap
                ),
                **drift_tags(report),
                **_reflectance_tags(loaded, white),
                **precision.tags(),
            }
            with _colour_cog(output, grid, tags, config.compress) as dst:
                blend(
                    reader.read,
                    lambda batch: _predict(loaded, batch, rgb, precision),
                    plan.rows,
                    plan.cols,
                    grid.shape,
                    plan.overlap,
                    len(rgb),
                    _writer(dst, grid, region, white),
                    batch_size=config.batch_size,
                    panel_width=max(config.panel_width, 2 * plan.tile),
                    progress=progress,
                )
    except DriftError as refused:
        monitored(refused.report, None)
        raise
    sidecar = write_sidecar(output, report) if report is not None else None
    bands = tuple(loaded.normalisation.optical_bands[index] for index in rgb)
    write_item(output, grid, tags, source, bands, sidecar)
    monitored(report, output)
    return ColorizeResult(
        path=output,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        bounds=grid.bounds,
        tiles=len(plan.rows) * len(plan.cols),
        redundancy=redundancy(plan.rows, plan.cols, grid.height, grid.width),
        tags=tags,
        drift=report,
    )


def _monitoring(
    model: LoadedModel, scene: str, config: ColorizeConfig
) -> Callable[[DriftReport | None, str | None], None]:
    """Logs the colorization's monitoring run (given its report and output), if it is on."""
    monitor = config.monitor
    if monitor is None:
        monitor = model.uri.startswith(("models:/", "runs:/"))
    version = model.version

    def log_run(report: DriftReport | None, output: str | None) -> None:
        if monitor:
            log_colorization(
                report,
                model_uri=model.uri,
                model_name=version.name if version else None,
                model_version=str(version.version) if version else None,
                scene=scene,
                output=output,
            )

    return log_run


def rgb_channels(model: LoadedModel) -> tuple[int, ...]:
    """The model's output channels shown as red, green and blue."""
    bands = model.normalisation.optical_bands
    found = rgb_band_indices(bands)
    if found is not None:
        return found
    if len(bands) == 3:
        log.warning("%s: bands %s are not B04/B03/B02, shown in their order", model.uri, bands)
        return (0, 1, 2)
    raise GeocolorError(
        f"{model.uri}: the model predicts {', '.join(bands)}, not the red, green and blue "
        f"bands {', '.join(RGB_BANDS)}"
    )


def _predict(
    model: LoadedModel, batch: np.ndarray, rgb: tuple[int, ...], precision: Choice
) -> np.ndarray:
    return model.predict(batch, precision.forward)[:, list(rgb)]


@dataclass(frozen=True)
class TilePlan:
    """The overlapping tiles a scene is cut into for one model."""

    tile: int
    overlap: int
    rows: list[Span]
    cols: list[Span]


def plan_tiles(grid: Grid, model: LoadedModel, config: ColorizeConfig) -> TilePlan:
    """Tiles of ``config.tile_size`` (at most the scene, a size multiple) and their overlap.

    The overlap defaults to the model's receptive field (:func:`default_overlap`).
    """
    tile = round_up(min(config.tile_size, max(grid.shape)), model.size_multiple)
    overlap = config.overlap
    if overlap is None:
        overlap = default_overlap(model.receptive_field, tile, model.size_multiple)
    if overlap >= tile:
        raise UsageError(f"overlap {overlap} must be smaller than the tile size {tile}")
    rows = axis_spans(grid.height, tile, overlap, model.size_multiple)
    cols = axis_spans(grid.width, tile, overlap, model.size_multiple)
    return TilePlan(tile, overlap, rows, cols)


def prepare_norm(model: LoadedModel, reader: SceneReader, config: ColorizeConfig) -> None:
    """Put the model's norm layers in the configured mode, sampling the scene if asked.

    Scene statistics follow :func:`~geocolor.models.scene_statistics.statistics_windows`,
    the rule validation and ``evaluate`` score models with.
    """
    if config.norm != "scene":
        set_norm_mode(model.generator, config.norm)
        return
    windows = statistics_windows(
        reader.read, reader.grid.shape, model.size_multiple, config.statistics_tiles
    )
    use_scene_statistics(model.generator, model.normalisation, windows, model.device)
    log.info("scene statistics gathered over %d windows", len(windows))


def choose_precision(model: LoadedModel, reader: SceneReader, config: ColorizeConfig) -> Choice:
    """How the generator runs: ``config.precision``, measured on scene windows if not fp32."""
    import torch

    calibration = torch.empty(0)
    if config.precision != "fp32":
        windows = statistics_windows(
            reader.read, reader.grid.shape, model.size_multiple, CALIBRATION_WINDOWS
        )
        batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
        calibration = model.normalisation.sar_to_unit(batch.to(model.device))[0]
    tolerance = Tolerance(config.min_psnr_bf16, config.min_psnr_int8)
    return choose(
        config.precision, model.generator, model.device, calibration, tolerance, config.compile
    )


def _tags(
    scene: str,
    model: LoadedModel,
    reader: SceneReader,
    region: BaseGeometry | None,
    config: ColorizeConfig,
    tile: int,
    overlap: int,
) -> dict[str, str]:
    version = model.version
    return {
        "geocolor_version": __version__,
        "model_uri": model.uri,
        "model_name": version.name if version else "",
        "model_version": version.version if version else "",
        "model_run_id": (version.run_id or "") if version else "",
        "backend": model.backend,
        "input": scene,
        "input_product": reader.product_id,
        "aoi": region.wkt if region is not None else "",
        "parameters": json.dumps(
            {**config.model_dump(mode="json"), "tile_size": tile, "overlap": overlap},
            sort_keys=True,
        ),
    }


def _reflectance_tags(model: LoadedModel, white: float) -> dict[str, str]:
    """What the colours mean: the value shown white and the training data's Sentinel-2 record."""
    return {
        "white_reflectance": f"{white:g}",
        "optical_conventions": json.dumps(model.optical_conventions, sort_keys=True),
    }


@contextmanager
def _colour_cog(path: str, grid: Grid, tags: dict[str, str], compress: str) -> Iterator[Any]:
    """The output COG: RGB uint8 with an internal mask, to be written strip by strip."""
    profile = {
        "width": grid.width,
        "height": grid.height,
        "count": 3,
        "dtype": "uint8",
        "crs": grid.crs,
        "transform": grid.transform,
        "photometric": "RGB",
    }
    mask_env = {"GDAL_TIFF_INTERNAL_MASK": True}
    with cog_staging(path, profile, compress, "AVERAGE", mask_env) as dst:
        dst.colorinterp = [ColorInterp.red, ColorInterp.green, ColorInterp.blue]
        for index, name in enumerate(("red", "green", "blue"), start=1):
            dst.set_band_description(index, name)
        dst.update_tags(**tags)
        yield dst


def _writer(
    dst: Any, grid: Grid, region: BaseGeometry | None, max_reflectance: float
) -> Callable[[int, int, np.ndarray, np.ndarray], None]:
    """The mosaic's sink: reflectance to 8-bit colour, masked outside data and AOI."""
    outline = (
        None if region is None else reproject_geometry(region.segmentize(0.01), LONLAT, grid.crs)
    )

    def write(row0: int, col0: int, values: np.ndarray, valid: np.ndarray) -> None:
        height, width = valid.shape
        if outline is not None:
            valid = valid & rasterio.features.geometry_mask(
                [outline], (height, width), grid.window_transform(row0, col0), invert=True
            )
        scaled = np.nan_to_num(values / max_reflectance * 255.0, nan=0.0)
        colour = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        colour[:, ~valid] = 0
        window = Window(col0, row0, width, height)
        dst.write(colour, window=window)
        dst.write_mask(valid.astype(np.uint8) * 255, window=window)

    return write
