"""The Sentinel-1 GRD chain: DN -> calibrated, denoised, speckle-filtered backscatter.

One lazy Dask graph from the measurement TIFFs to the requested grid: read DN by
chunk, subtract thermal noise and calibrate (sparse LUTs interpolated per chunk),
filter speckle in linear power, warp onto the target grid, convert to dB. ``prepare``
and ``colorize`` call :func:`backscatter` so training and inference see the same
processing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import dask.array as da
import numpy as np
import pydantic

from geocolor import __version__
from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.crs import named_or_utm_crs
from geocolor.geo.grid import LONLAT, Georeference, Grid, grid_covering
from geocolor.io.filesystems import grid_of_raster
from geocolor.s1.border_noise import border_noise_decision, remove_border_noise
from geocolor.s1.copernicus_dem import COPERNICUS, copernicus_dem
from geocolor.s1.dem import open_dem
from geocolor.s1.georeference import RadarLocator, ground_control_points, warp_to_grid
from geocolor.s1.measures import RTC_MEASURE
from geocolor.s1.orbit_file import OrbitStateVectors
from geocolor.s1.radar_chain import RadarSteps, power_to_db, radar_backscatter, speckle_halo
from geocolor.s1.safe import GeolocationGrid, RadarWindow, SafeProduct
from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.terrain import TerrainLocator, terrain_correct
from geocolor.s1.terrain_flattening import (
    MASK_ENCODING,
    RTC_PROVENANCE,
    flattening_for,
    flattening_layers,
)

ANNOTATION_ORBIT = "annotation"
"""The ``orbit_source`` tag of a product whose own state vectors are in effect."""
PROVENANCE_TAGS = ("border_noise", "orbit_source")
"""Tags that say how the radar chain treated the product, which the store records too."""

# output chunk of the map-grid warp (pixels per side)
WARP_CHUNK = 1024
TERRAIN_TAGS = ("dem", "dem_height_reference", "radiometric_terrain_correction")
"""Provenance tags of a terrain-corrected image (absent without a DEM; the last only
for ``gamma0-rtc``)."""


class S1Config(Config):
    """How to turn a GRD product into backscatter (keys of ``pipelines/*.yaml``)."""

    measure: Literal["sigma0", "beta0", "gamma0", "gamma0-rtc"] = "sigma0"
    denoise: bool = True
    border_noise: bool = True
    speckle: str = "lee"
    window: int = 7
    looks: float = pydantic.Field(default=4.4, gt=0)
    db: bool = True
    grid: str = "utm"
    resolution: float = pydantic.Field(default=10.0, gt=0)
    crs: str | None = None
    polarisations: tuple[str, ...] | None = None
    chunk: int = pydantic.Field(default=256, ge=16)
    dem: str | None = None
    layover_shadow_mask: bool = False


@dataclass(frozen=True)
class Backscatter:
    """A lazy (band, rows, cols) float32 image, where it lies, and what it holds."""

    image: da.Array
    georef: Georeference
    grid: Grid | None
    polarisations: tuple[str, ...]
    descriptions: tuple[str, ...]
    tags: dict[str, str]
    mask: da.Array | None = None
    """(1, rows, cols) layover/shadow codes on the grid, when asked for (``process-s1``)."""


def target_grid(product: SafeProduct, config: S1Config) -> Grid | None:
    """The grid the chain warps onto, or None to keep radar geometry."""
    if config.grid == "radar":
        return None
    if config.grid == "utm":
        footprint = product.footprint()
        crs = named_or_utm_crs(config.crs, footprint)
        return grid_covering(footprint, crs, config.resolution)
    return grid_of_raster(config.grid)


def _select_polarisations(product: SafeProduct, wanted: tuple[str, ...] | None) -> tuple[str, ...]:
    available = product.info.polarisations
    if not wanted:
        return tuple(available)
    chosen = tuple(pol.upper() for pol in wanted)
    missing = [pol for pol in chosen if pol not in available]
    if missing:
        raise GeocolorError(
            f"{product.path}: polarisation {', '.join(missing)} not in product "
            f"(has {', '.join(available)})"
        )
    return chosen


def _radar_extent(
    product: SafeProduct, locator: RadarLocator | TerrainLocator | None, halo: int
) -> RadarWindow:
    """The radar window to process: all of it, or what the grid needs plus the halo."""
    lines, samples = product.info.lines, product.info.samples
    if locator is None:
        return RadarWindow(0, lines, 0, samples)
    grid = locator.grid
    needed = locator.window_for(0, grid.height, 0, grid.width)
    if needed is None:
        raise GeocolorError(f"{product.path}: the scene does not overlap the target grid")
    return RadarWindow(
        max(needed.line0 - halo, 0),
        min(needed.line1 + halo, lines),
        max(needed.pixel0 - halo, 0),
        min(needed.pixel1 + halo, samples),
    )


def _locator(
    product: SafeProduct,
    geogrid: GeolocationGrid,
    grid: Grid | None,
    dem: str | None,
    orbit: OrbitStateVectors | None,
) -> RadarLocator | TerrainLocator | None:
    """How map pixels find their radar position: the DEM's terrain, solved against the
    orbit file's vectors when given (else the annotation's), or the geolocation grid."""
    if grid is None:
        if dem is not None:
            raise UsageError("terrain correction with a DEM needs a map grid, not grid: radar")
        return None
    if dem is None:
        return RadarLocator(geogrid, grid)
    geometry = product.radar_geometry()
    if orbit is not None:
        geometry = replace(geometry, orbit=orbit.orbit(geometry.orbit.epoch))
    if dem == COPERNICUS:
        opened = copernicus_dem(product.footprint(), grid.footprint_lonlat())
    else:
        opened = open_dem(dem)
    return TerrainLocator(geometry, opened, grid)


def _check_terrain_options(config: S1Config) -> None:
    """Flattening and the layover/shadow mask need the DEM's terrain."""
    if config.dem is None or config.grid == "radar":
        if config.measure == RTC_MEASURE:
            raise UsageError("measure gamma0-rtc needs a DEM (--dem) and a map grid")
        if config.layover_shadow_mask:
            raise UsageError("the layover/shadow mask needs a DEM (--dem) and a map grid")


def to_db(image: da.Array) -> da.Array:
    """10 log10 of linear power as float32, one new array per chunk; NaN stays NaN."""
    db: da.Array = da.map_blocks(power_to_db, image, dtype=np.float32)
    return db


def backscatter(
    product: SafeProduct,
    config: S1Config | None = None,
    grid: Grid | None = None,
    hold: Callable[[da.Array], da.Array] | None = None,
    orbit: OrbitStateVectors | None = None,
) -> Backscatter:
    """Build the lazy chain for ``product`` as ``config`` says.

    Parameters
    ----------
    product
        The opened GRD product.
    config
        Processing options; defaults when None.
    grid
        Target grid overriding ``config.grid`` (``prepare`` passes the Sentinel-2 grid).
    hold
        Called on the filtered radar-geometry image before it is warped, to compute it
        into storage and return it re-read lazily (see :func:`geocolor.prepare.store.hold`).
        Without it nothing is computed here; with it, warping a whole scene keeps
        memory bounded, as each map chunk then reads its radar window from storage.
    orbit
        State vectors of a POEORB or RESORB file, checked against the product
        (:func:`geocolor.s1.orbit_file.orbit_for_product`): terrain correction solves
        against them instead of the annotation's. The geolocation-grid warp uses no
        vectors, so there the file is only recorded (``orbit_file`` tag).
    """
    config = config or S1Config()
    _check_terrain_options(config)
    polarisations = _select_polarisations(product, config.polarisations)
    params = SpeckleParams(window=config.window, looks=config.looks)
    geogrid = product.geolocation_grid()
    grid = grid or target_grid(product, config)
    locator = _locator(product, geogrid, grid, config.dem, orbit)
    extent = _radar_extent(product, locator, speckle_halo(config.speckle, params))
    # strips of lines across the processed width: the speckle filter's halo then only
    # links consecutive strips, which Dask streams through in bounded memory
    chunks = (config.chunk, extent.pixel1 - extent.pixel0)
    origin = (extent.line0, extent.pixel0)
    # in radar geometry dB is taken inside the chain; a warp must see linear power
    chain_db = config.db and grid is None
    border_removal, border_provenance = border_noise_decision(product, config.border_noise)
    layers = []
    for pol in polarisations:
        steps = RadarSteps(
            luts=product.calibration(pol),
            # flattening divides terrain-corrected beta0 by the illuminated area
            measure="beta0" if config.measure == RTC_MEASURE else config.measure,
            noise=product.noise(pol) if config.denoise else None,
            speckle=config.speckle,
            params=params,
        )
        dn = product.read_dn(pol, chunks=chunks, window=extent)
        if border_removal:
            dn = remove_border_noise(product, pol, dn, extent)
        layers.append(radar_backscatter(dn, steps, origin=origin, db=chain_db))
    image = da.stack(layers)
    mask = None
    if grid is None:
        georef = Georeference(LONLAT, gcps=tuple(ground_control_points(geogrid)))
    else:
        if hold is not None:
            image = hold(image)
        if isinstance(locator, TerrainLocator):
            image = terrain_correct(image, locator, chunk=WARP_CHUNK, extent=extent)
            if config.measure == RTC_MEASURE or config.layover_shadow_mask:
                flattening = flattening_layers(flattening_for(locator), WARP_CHUNK)
                if config.measure == RTC_MEASURE:
                    image = image / flattening[0:1]
                if config.layover_shadow_mask:
                    mask = flattening[1:2]
        else:
            image = warp_to_grid(image, geogrid, grid, chunk=WARP_CHUNK, extent=extent)
        georef = Georeference(grid.crs, grid.transform)
        if config.db:
            image = to_db(image)
    unit = "dB" if config.db else "linear"
    descriptions = tuple(f"{pol} {config.measure} {unit}" for pol in polarisations)
    tags = {
        "geocolor_version": __version__,
        "input_product": product.info.product_id,
        "acquisition_times": product.info.start_time.isoformat(),
        "processing": json.dumps(config.model_dump(mode="json"), sort_keys=True),
        "polarisations": ",".join(polarisations),
        "border_noise": border_provenance,
        "orbit_source": ANNOTATION_ORBIT,
    }
    if orbit is not None:
        tags["orbit_file"] = orbit.source
        if isinstance(locator, TerrainLocator):
            tags["orbit_source"] = orbit.source
    if isinstance(locator, TerrainLocator):
        tags.update(
            {"dem": locator.dem.source, "dem_height_reference": locator.dem.height_reference}
        )
    if config.measure == RTC_MEASURE:
        tags["radiometric_terrain_correction"] = RTC_PROVENANCE
    if mask is not None:
        tags["layover_shadow_mask"] = MASK_ENCODING
    return Backscatter(image, georef, grid, polarisations, descriptions, tags, mask)
