"""Scenes to colorize, read window by window on the output grid.

A scene is whatever :func:`geocolor.s1.source.open_s1` opens: a raw GRD product, processed
here by the same Sentinel-1 chain as the model's training data, an already processed
backscatter raster (sigma0 dB, any CRS), or a plugin reader's scene. Either way
``colorize`` sees a :class:`SceneReader`: the output grid (the scene's own, clipped to
the AOI, or ``crs``/``resolution``; UTM at the model's resolution for a scene in radar
geometry) and a ``read(window)`` that returns the model's bands in dB with NaN where
there is no data. The scene is computed onto that grid once, into a scratch file beside
the output (:mod:`geocolor.io.spill`, :mod:`geocolor.io.scratch`), so overlapping tiles
do not repeat the work and no whole scene is ever held in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import dask.array as da
import numpy as np
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from geocolor.colorize.conventions import (
    check_chain_settings,
    check_measure,
    described_scene,
    speckle_to_apply,
)
from geocolor.errors import UsageError
from geocolor.geo.aoi import require_area
from geocolor.geo.crs import parse_crs, utm_crs_of
from geocolor.geo.grid import Grid, crop_to_area, grid_covering, pixel_bounds
from geocolor.io.cluster import dask_client
from geocolor.io.scratch import scratch_folder
from geocolor.io.spill import shares_disk, spill, spilled_lazily
from geocolor.s1.backscatter import S1Config, to_db
from geocolor.s1.band_files import open_band_files, polarisation_in_name
from geocolor.s1.conventions import recorded_processing
from geocolor.s1.raster import band_polarisation
from geocolor.s1.source import S1Source, open_s1
from geocolor.s1.speckle import NO_FILTER, SpeckleParams, filter_speckle

log = logging.getLogger("geocolor.colorize.readers")


class SceneReader(Protocol):
    """Windows of a scene on the output grid."""

    grid: Grid
    product_id: str

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """(bands, height, width) float32 dB; NaN outside the scene or without data."""
        ...


def clip_region(footprint: BaseGeometry, aoi: BaseGeometry | None, path: str) -> BaseGeometry:
    """The lon/lat part of the scene to colorize; an AOI missing the scene is an error."""
    if aoi is None:
        return footprint
    region = footprint.intersection(aoi)
    if region.is_empty or region.area == 0:
        raise UsageError(f"the AOI lies outside the scene {path}")
    return region


@dataclass
class ArrayReader:
    """A scene already on the output grid in a (band, row, col) array (a scratch file)."""

    array: np.ndarray
    grid: Grid
    product_id: str

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Window of the grid; pixels beyond it, and infinite dB (zero power), are NaN."""
        return _padded(self._read_inside, self.array.shape[0], self.grid, row0, col0, height, width)

    def _read_inside(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        window = self.array[:, row0 : row0 + height, col0 : col0 + width]
        image = np.array(window, dtype=np.float32)
        image[~np.isfinite(image)] = np.nan
        return image


def _padded(
    read: Callable[[int, int, int, int], np.ndarray],
    bands: int,
    grid: Grid,
    row0: int,
    col0: int,
    height: int,
    width: int,
) -> np.ndarray:
    """``read`` of the window's part inside ``grid``, NaN around it."""
    out = np.full((bands, height, width), np.nan, dtype=np.float32)
    top, left = max(row0, 0), max(col0, 0)
    bottom, right = min(row0 + height, grid.height), min(col0 + width, grid.width)
    if bottom > top and right > left:
        out[:, top - row0 : bottom - row0, left - col0 : right - col0] = read(
            top, left, bottom - top, right - left
        )
    return out


def open_scene(
    scene: str | Mapping[str, str],
    sar_bands: Sequence[str],
    sar_processing: dict[str, Any] | None,
) -> tuple[str, S1Source]:
    """The scene's name and source, undescribed bands described as the model's data.

    ``scene`` is a path or URL :func:`~geocolor.s1.source.open_s1` opens, or
    ``{"VV": path, "VH": path}``: one single-band file per polarisation
    (:func:`~geocolor.s1.band_files.open_band_files`), named by its paths joined with
    commas; a single undescribed band named ``<name>_VH.tif`` holds the polarisation
    its name says. Bands without descriptions (a public dataset's own files) are read as the
    model's conventions say, or refused (:func:`~geocolor.colorize.conventions.described_scene`).
    """
    if isinstance(scene, str):
        path, source = scene, open_s1(scene)
        named = polarisation_in_name(scene)
        if named and getattr(source.info, "descriptions", None) == ("",):
            # one undescribed band named like BigEarthNet's <name>_VH.tif: its name says
            source = open_band_files({named: scene})
    else:
        path, source = ",".join(scene.values()), open_band_files(scene)
    return path, described_scene(source, _s1_config(sar_bands, sar_processing), path)


@contextmanager
def scene_reader(
    path: str,
    sar_bands: Sequence[str],
    sar_processing: dict[str, Any] | None,
    aoi: BaseGeometry | None = None,
    crs: str | None = None,
    resolution: float | None = None,
    scheduler: str | None = None,
    source: S1Source | None = None,
    beside: str | None = None,
) -> Iterator[SceneReader]:
    """The scene at ``path`` for colorizing on its grid clipped to ``aoi`` (lon/lat).

    Parameters
    ----------
    path
        Any scene :func:`open_scene` opens (local or URL).
    sar_bands
        The model's input bands (``"VV sigma0 dB"``...): which polarisations, in order.
    sar_processing
        The model's Sentinel-1 settings (``ModelSpec.sar_processing``), for SAFE input.
    aoi
        Area to colorize; None for the whole scene.
    crs, resolution
        Output grid instead of the scene's.
    scheduler
        Dask scheduler computing the scene (a local cluster when None).
    source
        The scene at ``path`` already opened, else it is opened here.
    beside
        The job's output, beside which the scratch file lies (see
        :func:`~geocolor.io.scratch.scratch_folder`); None: the temporary folder.
    """
    source = source or open_scene(path, sar_bands, sar_processing)[1]
    config = _s1_config(sar_bands, sar_processing)
    speckle = raster_speckle(source, config, sar_processing, path)
    named_crs = None if crs is None else parse_crs(crs)
    grid = output_grid(source, config, aoi, named_crs, resolution, path)
    with (
        dask_client(scheduler) as client,
        scratch_folder(beside) as folder,
    ):
        # a remote cluster's workers cannot see local scratch: there the graph stays
        # whole and only the finished blocks come back to this process
        hold = (
            (lambda image: spilled_lazily(image, folder / "radar.npy", client))
            if shares_disk(client)
            else None
        )
        if speckle is None:
            image = source.on_grid(config, grid, hold=hold).image
        else:
            power = source.on_grid(config.model_copy(update={"db": False}), grid).image
            image = _filtered(power, speckle, config)
            log.info("%s: unfiltered, filtered with %s as the training data was", path, speckle)
        array = spill(image, folder / "scene.npy", client, desc="processing")
        log.info("processed %s onto a %d x %d grid", source.info.product_id, *grid.shape[::-1])
        yield ArrayReader(array, grid, source.info.product_id)


def output_grid(
    source: S1Source,
    config: S1Config,
    aoi: BaseGeometry | None,
    crs: CRS | None,
    resolution: float | None,
    path: str,
) -> Grid:
    """The grid to colorize on.

    A scene's own grid is kept, cut to the pixels within the AOI's bounds, unless
    ``crs`` or ``resolution`` is given; otherwise the grid covers the scene's part in
    the AOI, in ``crs`` (else the scene's own, else the UTM zone of its centre) at
    ``resolution`` (else the scene's own, else the model's processing resolution).
    """
    if aoi is not None:
        require_area(aoi, "the AOI")
    native = source.native_grid()
    if native is not None and crs is None and resolution is None:
        return native if aoi is None else _crop(native, aoi, path)
    footprint = source.footprint()
    region = clip_region(footprint, aoi, path)
    if native is not None:
        scene_crs, scene_resolution = native.crs, native.resolution[0]
    else:
        scene_crs, scene_resolution = utm_crs_of(footprint), config.resolution
    grid = grid_covering(region, crs or scene_crs, resolution or scene_resolution)
    if 0 in grid.shape:
        raise UsageError(f"the AOI is too small to hold a pixel of the scene {path}")
    return grid


def _crop(grid: Grid, aoi: BaseGeometry, path: str) -> Grid:
    """The scene's grid cut to the AOI; an AOI narrower than a pixel is refused."""
    col0, row0, col1, row1 = pixel_bounds(grid, aoi)
    if not (col1 > 0 and col0 < grid.width and row1 > 0 and row0 < grid.height):
        raise UsageError(f"the AOI lies outside the scene {path}")
    cropped = crop_to_area(grid, aoi) if min(col1 - col0, row1 - row0) >= 1 else None
    if cropped is None:
        raise UsageError(f"the AOI is too small to hold a pixel of the scene {path}")
    return cropped


def raster_speckle(
    source: S1Source, config: S1Config, sar_processing: dict[str, Any] | None, path: str
) -> str | None:
    """The speckle filter a processed raster needs to look like the training data.

    None for a product in radar geometry, which the chain filters as ``config`` says
    (refused when the chain cannot make the model's measure). A raster of another
    measure than the model's, or filtered where the training data was not, is refused
    (:mod:`geocolor.colorize.conventions`).
    """
    if source.native_grid() is None:
        check_chain_settings(config, path)
        if sar_processing is not None and sar_processing.get("speckle") is None:
            log.warning(
                "the model does not say whether its training data was speckle-filtered;"
                " %s goes through the chain with the %s filter",
                path,
                config.speckle,
            )
        return None
    check_measure(tuple(getattr(source.info, "descriptions", ()) or ()), config.measure, path)
    return speckle_to_apply(recorded_processing(source), sar_processing, path)


def _filtered(power: da.Array, speckle: str, config: S1Config) -> da.Array:
    """Linear power filtered with ``speckle`` at ``config``'s window and looks, in its unit."""
    params = SpeckleParams(window=config.window, looks=config.looks)
    filtered = filter_speckle(power, speckle, params)
    return to_db(filtered) if config.db else filtered


def scene_processing(
    source: S1Source,
    recorded: dict[str, Any] | None,
    sar_bands: Sequence[str],
    sar_processing: dict[str, Any] | None,
) -> dict[str, Any] | None:
    """The Sentinel-1 settings the scene's backscatter went through, where known.

    A scene in radar geometry (a GRD product) goes through the chain here, with the
    model's settings; a processed raster went through what it ``recorded`` (None when
    it does not say), and the model's speckle filter when it says it is unfiltered and
    the training data was filtered (:func:`raster_speckle`).
    """
    config = _s1_config(sar_bands, sar_processing)
    if source.native_grid() is None:
        return config.model_dump(mode="json")
    if (
        recorded is not None
        and recorded.get("speckle") == NO_FILTER
        and speckle_to_apply(recorded, sar_processing, source.info.product_id)
    ):
        return {**recorded, "speckle": config.speckle, "window": config.window}
    return recorded


def _s1_config(sar_bands: Sequence[str], sar_processing: dict[str, Any] | None) -> S1Config:
    """The training data's Sentinel-1 settings, for the model's polarisations and unit.

    The unit is the bands' (``"VV sigma0 linear"``), dB when they do not name one.
    """
    settings = {key: value for key, value in (sar_processing or {}).items() if value is not None}
    measures = {band.split()[1] for band in sar_bands if len(band.split()) > 1}
    if len(measures) == 1:
        settings["measure"] = measures.pop()
    units = {band.split()[2].lower() for band in sar_bands if len(band.split()) > 2}
    settings.update(
        polarisations=tuple(band_polarisation(band) for band in sar_bands),
        db=units != {"linear"},
        grid="utm",
    )
    known = {key: value for key, value in settings.items() if key in S1Config.model_fields}
    return S1Config.model_validate(known)
