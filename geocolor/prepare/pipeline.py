"""``prepare``: paired, co-registered S1/S2 training tiles from full scenes, into Zarr.

Per pair: the Sentinel-2 grid restricted to the overlap (and the AOI) is the shared
grid; the Sentinel-1 chain warps onto it; a residual shift is estimated and optionally
corrected; both modalities stream into the store chunk by chunk; tile statistics are
then read back from the store (cheap) to keep, drop and split tiles. A pair is marked
complete last, once its arrays are read back and hold what its tile index says
(:mod:`geocolor.prepare.store_check`), so an interrupted run is resumed by running it
again and a pair is never trusted with arrays that do not match its index.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
import pydantic
import zarr
from distributed import Client
from shapely.geometry.base import BaseGeometry

from geocolor import __version__
from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.grid import Grid, crop_to_area
from geocolor.prepare.coregister import estimate_shift_tiled
from geocolor.prepare.pairing import Pair
from geocolor.prepare.shift import apply_shift
from geocolor.prepare.store import (
    TileTable,
    begin_pair,
    create_tile_array,
    finish_pair,
    group_array,
    hold,
    write_tile_arrays,
    write_tiles,
)
from geocolor.prepare.store_check import pair_problems
from geocolor.prepare.tiling import TileLayout, spatial_split, tile_fractions
from geocolor.s1.backscatter import PROVENANCE_TAGS, TERRAIN_TAGS, S1Config
from geocolor.s1.conventions import applied_processing
from geocolor.s1.facts import acquisition_facts
from geocolor.s2.product import DEFAULT_MASKED

log = logging.getLogger("geocolor.prepare.pipeline")

# name of the S1 array while a shift correction is pending
UNALIGNED = "s1_unaligned"
# the S1 image in radar geometry, held while it is warped onto the grid
SCRATCH = "s1_radar_scratch"


class PrepareConfig(Config):
    """Everything ``geocolor prepare`` can be told (keys of ``pipelines/prepare.yaml``)."""

    s1: S1Config = S1Config()
    s2_bands: tuple[str, ...] = ("B02", "B03", "B04")
    resolution: int = 10
    mask_classes: tuple[int, ...] = tuple(int(c) for c in DEFAULT_MASKED)
    aoi: str | None = None
    max_days: float = pydantic.Field(default=10.0, ge=0)
    tile_size: int = pydantic.Field(default=256, ge=16)
    stride: int | None = pydantic.Field(default=None, ge=1)
    min_valid: float = pydantic.Field(default=0.95, ge=0, le=1)
    max_cloud: float = pydantic.Field(default=0.05, ge=0, le=1)
    split_block: int = pydantic.Field(default=8, ge=1)
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    coregister: bool = True
    correct_shift: bool = False
    chunk: int = pydantic.Field(default=1024, ge=256)


@dataclass
class PairSummary:
    """What became of one pair's tiles."""

    pair_id: str
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    skipped: str | None = None
    shift: tuple[float, float] | None = None

    def line(self) -> str:
        """One human line for the final summary."""
        if self.skipped:
            return f"{self.pair_id}: skipped ({self.skipped})"
        drops = ", ".join(f"{n} {why}" for why, n in sorted(self.dropped.items())) or "none"
        return f"{self.pair_id}: {self.kept} tiles kept, dropped: {drops}"


def shared_grid(pair: Pair, resolution: int, aoi: BaseGeometry | None) -> Grid | None:
    """The S2 grid cut to the S1/S2 overlap (and AOI); None when they do not meet."""
    crs, transform, width, height = pair.s2.grid(resolution)
    area = pair.s1.footprint().intersection(pair.s2.footprint())
    if aoi is not None:
        area = area.intersection(aoi)
    if area.is_empty or area.area == 0:
        return None
    return crop_to_area(Grid(crs, transform, width, height), area)


def plan_pair(
    pair: Pair, config: PrepareConfig, aoi: BaseGeometry | None
) -> tuple[Grid, TileLayout] | str:
    """The pair's shared grid and its tiles, or why the pair is skipped."""
    grid = shared_grid(pair, config.resolution, aoi)
    if grid is None:
        return "the S1 and S2 footprints (and AOI) do not overlap"
    layout = TileLayout(
        grid.height, grid.width, config.tile_size, config.stride or config.tile_size
    )
    if 0 in layout.grid_shape:
        return f"the overlap ({grid.width} x {grid.height} px) holds no whole tile"
    return grid, layout


def check_inputs(pairs: Sequence[Pair], config: PrepareConfig, aoi: BaseGeometry | None) -> None:
    """Refuse, before anything is written, a pair whose products lack what it needs.

    Every pair that will be prepared has its lazy layers built (nothing is computed):
    that reads each product's annotations and raster headers, so a missing
    polarisation, band, SCL raster or calibration fails the run at once instead of
    after earlier pairs, or this pair's Sentinel-1 image, were written to the store.
    """
    for pair in pairs:
        plan = plan_pair(pair, config, aoi)
        if isinstance(plan, str):
            continue
        grid, _ = plan
        pair.s1.on_grid(config.s1, grid)
        _s2_on_grid(pair, config, grid)
        pair.s2.reflectance_convention(config.s2_bands, config.resolution)
        _mask_on_grid(pair, config, grid)


def prepare_pair(
    pair: Pair,
    root: zarr.Group,
    config: PrepareConfig,
    aoi: BaseGeometry | None,
    client: Client,
    locations: Mapping[str, str],
) -> PairSummary:
    """Write one pair into the store and return what happened to its tiles.

    ``locations`` maps product ids to the paths or URLs they were read from, which
    the pair records beside the products' acquisition times (its STAC Item's links
    and dates, :mod:`geocolor.prepare.catalog`).
    """
    summary = PairSummary(pair.pair_id)
    plan = plan_pair(pair, config, aoi)
    if isinstance(plan, str):
        summary.skipped = plan
        return summary
    grid, layout = plan
    parameters = {
        **json.loads(config.model_dump_json()),
        # what the data went through, which a model trained on it carries
        "s1": applied_processing(pair.s1, config.s1),
        "s2": pair.s2.reflectance_convention(config.s2_bands, config.resolution),
    }

    group = begin_pair(root, pair.pair_id)
    s1 = pair.s1.on_grid(config.s1, grid, hold=lambda image: hold(image, group, SCRATCH, client))
    s1_id, s2_id, sensed = (
        pair.s1.info.product_id,
        pair.s2.info.product_id,
        pair.s2.info.sensing_time,
    )
    attrs = {
        "s1_product": s1_id,
        "s1_input": locations.get(s1_id),
        "s1_start_time": pair.s1.info.start_time.isoformat(),
        # mission, mode, IPF, incidence...: the drift reference's facts
        "s1_acquisition": acquisition_facts(pair.s1),
        # border-noise decision and orbit source (None where a processed raster says nothing)
        "s1_provenance": {key: s1.tags.get(key) for key in PROVENANCE_TAGS},
        "s2_product": s2_id,
        "s2_input": locations.get(s2_id),
        "s2_sensing_time": sensed.isoformat() if sensed else None,
        "crs": grid.crs.to_wkt(),
        "transform": list(grid.transform)[:6],
        "width": grid.width,
        "height": grid.height,
        "days_apart": pair.days_apart,
        "s1_bands": list(s1.descriptions),
        "s2_bands": list(config.s2_bands),
        "parameters": parameters,
        "geocolor_version": __version__,
    }
    # S1 is written once as it comes; a shift correction is estimated on the stored
    # arrays (cheap to read back) and applied into the final array afterwards
    correcting = config.coregister and config.correct_shift
    first = UNALIGNED if correcting else "s1"
    layers = {
        first: s1.image,
        "s2": _s2_on_grid(pair, config, grid),
        "mask": _mask_on_grid(pair, config, grid)[None].astype(np.uint8),
    }
    terrain = {key: s1.tags[key] for key in TERRAIN_TAGS if key in s1.tags}
    if terrain:
        attrs["s1_terrain_correction"] = terrain
    group.attrs.update(attrs)
    for name, layer in layers.items():
        create_tile_array(group, name, layer, config.tile_size)
    write_tile_arrays(group, layers, client, config.tile_size)
    if SCRATCH in group:
        del group[SCRATCH]
    if config.coregister:
        summary.shift = _coregister(group, first, pair.pair_id, client, config)

    table, dropped = _tile_table(group, grid, layout, config, pair.pair_id)
    write_tiles(group, table)
    problems = pair_problems(group, config.tile_size)
    if problems:
        raise GeocolorError(f"{pair.pair_id}: not marked complete: {problems[0]}")
    summary.kept = len(table)
    summary.dropped = dropped
    finish_pair(
        group,
        {"tiles_kept": summary.kept, "tiles_dropped": dict(dropped), "shift": summary.shift},
    )
    return summary


def _coregister(
    group: zarr.Group, name: str, pair_id: str, client: Client, config: PrepareConfig
) -> tuple[float, float]:
    """Estimate the residual S1 shift on stored tiles; apply it into ``s1`` if asked."""
    s1 = da.from_zarr(group_array(group, name))
    s2 = da.from_zarr(group_array(group, "s2"))
    brightness = s2.mean(axis=0)
    masked = da.from_zarr(group_array(group, "mask"))[0].astype(bool)
    estimate = estimate_shift_tiled(brightness, s1[0], reference_mask=masked)
    log.info(
        "%s: residual S1 shift dy=%.2f dx=%.2f px (quality %.2f, %s)",
        pair_id,
        estimate.dy,
        estimate.dx,
        estimate.quality,
        "reliable" if estimate.reliable else "unreliable",
    )
    if name == UNALIGNED:
        shifted = s1
        if estimate.reliable:
            applied = apply_shift(s1, estimate.dy, estimate.dx)
            assert isinstance(applied, da.Array)
            shifted = applied
        create_tile_array(group, "s1", shifted, config.tile_size)
        write_tile_arrays(group, {"s1": shifted}, client, config.tile_size)
        del group[UNALIGNED]
    return estimate.dy, estimate.dx


def _s2_on_grid(pair: Pair, config: PrepareConfig, grid: Grid) -> da.Array:
    reflectance = pair.s2.read_reflectance(
        config.s2_bands, resolution=config.resolution, chunks=config.chunk
    )
    window: da.Array = _window(reflectance.data, pair, config, grid).astype(np.float32)
    return window


def _mask_on_grid(pair: Pair, config: PrepareConfig, grid: Grid) -> da.Array:
    mask = pair.s2.read_mask(resolution=config.resolution, classes=config.mask_classes)
    window: da.Array = _window(mask.data[None], pair, config, grid)[0]
    return window


def _window(image: da.Array, pair: Pair, config: PrepareConfig, grid: Grid) -> da.Array:
    _, transform, _, _ = pair.s2.grid(config.resolution)
    col0, row0 = (round(v) for v in ~transform @ (grid.transform.c, grid.transform.f))
    window: da.Array = image[:, row0 : row0 + grid.height, col0 : col0 + grid.width]
    return window


def _tile_table(
    group: zarr.Group, grid: Grid, layout: TileLayout, config: PrepareConfig, pair_id: str
) -> tuple[TileTable, Counter[str]]:
    """Tile fractions from the stored arrays (cheap to read back), then keep/drop/split."""

    def stored(name: str) -> da.Array:
        array: da.Array = da.from_zarr(group_array(group, name))
        return array

    valid = da.isfinite(stored("s1")).all(axis=0) & da.isfinite(stored("s2")).all(axis=0)
    cloud = stored("mask")[0].astype(bool)
    valid_fraction, cloud_fraction = tile_fractions(layout, da.stack([valid, cloud]))
    split, clean = spatial_split(
        layout, config.split_block, config.split_fractions, seed=config.seed
    )
    rows, cols = layout.origins()
    reasons = np.full(rows.size, "", dtype=object)
    reasons[valid_fraction < config.min_valid] = "nodata"
    reasons[(reasons == "") & (cloud_fraction > config.max_cloud)] = "cloud"
    reasons[(reasons == "") & ~clean] = "split border"
    keep = reasons == ""
    x0, y0 = grid.pixel_to_map(rows, cols)
    x1, y1 = grid.pixel_to_map(rows + layout.size, cols + layout.size)
    table = TileTable(
        pair=np.full(rows.size, pair_id, dtype=object),
        tile_id=np.arange(rows.size, dtype=np.int32),
        row=rows.astype(np.int32),
        col=cols.astype(np.int32),
        x_min=np.minimum(x0, x1),
        y_min=np.minimum(y0, y1),
        x_max=np.maximum(x0, x1),
        y_max=np.maximum(y0, y1),
        valid_fraction=valid_fraction,
        cloud_fraction=cloud_fraction,
        split=split,
    ).select(keep)
    return table, Counter(str(reason) for reason in reasons[~keep])


def check_store_settings(root: zarr.Group, path: str, config: PrepareConfig) -> None:
    """Record the settings every pair of a store shares; refuse to mix different ones.

    Training reads tiles of all pairs alike, so a store holds one tile size, one set of
    bands and one resolution (kept in the root attributes).
    """
    settings: dict[str, Any] = {
        "tile_size": config.tile_size,
        "resolution": config.resolution,
        "s2_bands": list(config.s2_bands),
        "s1_polarisations": list(config.s1.polarisations or []),
    }
    for key, value in settings.items():
        held = root.attrs.get(key)
        if held is not None and held != value:
            message = f"{path}: the store holds {key} {held}, not {value}; use a new store"
            raise UsageError(message)
    root.attrs.update(settings)


def summarise(summaries: Sequence[PairSummary], unpaired: Sequence[str]) -> list[str]:
    """Final report lines: per pair, then totals."""
    lines = [summary.line() for summary in summaries] + list(unpaired)
    kept = sum(s.kept for s in summaries)
    dropped = sum(sum(s.dropped.values()) for s in summaries)
    done = sum(1 for s in summaries if not s.skipped)
    lines.append(f"{done} pairs, {kept} tiles kept, {dropped} dropped")
    return lines
