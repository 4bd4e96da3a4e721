"""Sentinel-1 backscatter that arrives already processed: a GeoTIFF/COG per acquisition.

``geocolor fetch`` (Sentinel Hub) and ``geocolor process-s1`` write such rasters: float32
sigma0, beta0, gamma0 (ellipsoid) or gamma0-rtc (terrain-flattened), one band per
polarisation described as ``"VV sigma0 dB"`` (or ``linear``; ``"VV gamma0-rtc dB"``),
NaN as nodata, with the product and its time in the tags. Opened through
:func:`geocolor.s1.source.open_s1` (the ``backscatter-raster`` reader), such a raster
is paired, prepared and colorized as a SAFE product is: it is warped onto the target
grid chunk by chunk, so a folder of fetched files trains a model as raw products do.

Such a raster may come from anywhere, so it is opened as a GeoTIFF only (see
:mod:`geocolor.io.product_files`); the VRTs geocolor writes for a STAC Item's COGs are
opened by passing :data:`~geocolor.io.product_files.GEOCOLOR_VRT_DRIVERS`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor import __version__
from geocolor.errors import GeocolorError
from geocolor.geo.grid import LONLAT, Georeference, Grid, reproject_geometry
from geocolor.io.product_files import S1_MEASUREMENT_DRIVERS, open_product_raster
from geocolor.s1.backscatter import PROVENANCE_TAGS, Backscatter, S1Config
from geocolor.s1.source import Hold
from geocolor.s1.terrain_flattening import MASK_DESCRIPTION

# a Sentinel-1 time in a product id or file name: 20210614T052647
_TIME = re.compile(r"(\d{8}T\d{6})")
# chunk of the warped image (pixels per side)
WARP_CHUNK = 1024
# decimated read used to outline a raster's valid data
_OUTLINE_PIXELS = 512


@dataclass(frozen=True)
class RasterInfo:
    """What pairing and the store record of a processed acquisition.

    The time is looked up only when asked for: a raster without one can be colorized,
    and pairing it is what fails, saying so.
    """

    path: str
    product_id: str
    descriptions: tuple[str, ...]
    acquisition_times: str | None
    #: The Sentinel-1 chain's settings (JSON) when geocolor processed the raster.
    processing: str | None = None
    #: The chain's provenance tags it recorded (border noise, orbit source), as pairs.
    provenance: tuple[tuple[str, str], ...] = ()

    @property
    def start_time(self) -> datetime:
        """The first acquisition time in the tags, else the time in the product id."""
        if self.acquisition_times:
            return datetime.fromisoformat(self.acquisition_times.split(",")[0])
        match = _TIME.search(self.product_id)
        if match is None:
            raise GeocolorError(
                f"{self.path}: no acquisition time (tag acquisition_times, or a time in the name)"
            )
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


@dataclass(frozen=True)
class BackscatterRaster:
    """A processed Sentinel-1 raster, opened without reading pixels (an ``S1Source``)."""

    path: str
    info: RasterInfo
    grid: Grid
    #: The GDAL drivers the raster may be opened with.
    drivers: tuple[str, ...] = S1_MEASUREMENT_DRIVERS

    def footprint(self) -> BaseGeometry:
        """Lon/lat outline of the raster's valid data (read once, when first asked)."""
        return self._outline

    @functools.cached_property
    def _outline(self) -> BaseGeometry:
        return raster_footprint(self.path, self.drivers)

    def native_grid(self) -> Grid:
        """The raster's own grid."""
        return self.grid

    def described_as(self, descriptions: tuple[str, ...]) -> BackscatterRaster:
        """The same raster, its bands described as ``descriptions`` say (in file order)."""
        return dataclasses.replace(
            self, info=dataclasses.replace(self.info, descriptions=descriptions)
        )

    def overview(self) -> np.ndarray:
        """All bands read decimated to at most 512 px a side, float32, NaN for nodata."""
        with open_product_raster(self.path, self.drivers) as src:
            scale = max(max(src.width, src.height) / _OUTLINE_PIXELS, 1.0)
            shape = (src.count, max(round(src.height / scale), 1), max(round(src.width / scale), 1))
            data = src.read(out_shape=shape, masked=True, resampling=Resampling.nearest)
        return np.asarray(data.astype(np.float32).filled(np.nan))

    def on_grid(self, config: S1Config, grid: Grid, hold: Hold | None = None) -> Backscatter:
        """The raster warped (bilinear) onto ``grid`` lazily, in ``config``'s unit.

        The raster's measure must be ``config.measure``; each band is turned into dB or
        linear power as ``config.db`` says. Polarisations: ``config.polarisations`` or all.
        ``hold`` is not needed: each chunk reads its window of the raster directly.
        """
        bands = match_bands(self.info.descriptions, config, self.path)
        chunks = (len(bands), WARP_CHUNK, WARP_CHUNK)
        # dask leaves map_blocks, normalize_chunks and stack unannotated
        image = da.map_blocks(
            _warped_block,
            path=self.path,
            drivers=self.drivers,
            bands=tuple(index for index, _ in bands),
            grid=grid,
            chunks=da.core.normalize_chunks(chunks, (len(bands), grid.height, grid.width)),
            dtype=np.float32,
            meta=np.empty((0, 0, 0), dtype=np.float32),
        )
        image = da.stack(
            [
                _to_unit(image[index], description.split()[-1].lower(), config.db)
                for index, (_, description) in enumerate(bands)
            ]
        )
        unit = "dB" if config.db else "linear"
        polarisations = tuple(band_polarisation(text) for _, text in bands)
        return Backscatter(
            image=image,
            georef=Georeference(grid.crs, grid.transform),
            grid=grid,
            polarisations=polarisations,
            descriptions=tuple(f"{pol} {config.measure} {unit}" for pol in polarisations),
            tags={
                "geocolor_version": __version__,
                "input_product": self.info.product_id,
                **dict(self.info.provenance),
            },
        )


def band_polarisation(name: str) -> str:
    """``"VV sigma0 dB"`` -> ``"VV"``."""
    return name.split()[0].upper()


def match_bands(
    descriptions: tuple[str, ...], config: S1Config, path: str
) -> list[tuple[int, str]]:
    """(1-based index, description) of the bands ``config`` wants, in its order.

    Every band must be described like ``"VV sigma0 dB"`` and hold ``config.measure``;
    bands are found by polarisation, so their order in the file does not matter. A
    raster whose bands are not described is opened all the same: ``colorize``
    describes them from the model's conventions
    (:func:`geocolor.colorize.conventions.described_scene`), anything else refuses it here.
    layover/shadow band (``process-s1 --layover-shadow-mask``) is not backscatter: skipped.
    """
    found = {}
    for index, text in enumerate(descriptions, start=1):
        words = text.split()
        if not words:
            raise GeocolorError(
                f"{path}: band {index} is not described; name it like 'VV sigma0 dB'"
            )
        if words[:1] == [MASK_DESCRIPTION]:
            continue
        if len(words) != 3 or words[2].lower() not in {"db", "linear"}:
            raise GeocolorError(
                f"{path}: band {index} is described {text!r}, not like 'VV sigma0 dB'"
            )
        if words[1] != config.measure:
            raise GeocolorError(f"{path}: band {index} holds {words[1]}, not {config.measure}")
        found[band_polarisation(text)] = (index, text)
    wanted = config.polarisations or tuple(found)
    missing = [pol.upper() for pol in wanted if pol.upper() not in found]
    if missing:
        raise GeocolorError(f"{path}: no {', '.join(missing)} band (has {', '.join(found)})")
    return [found[pol.upper()] for pol in wanted]


def _to_unit(band: da.Array, unit: str, db: bool) -> da.Array:
    """A band in ``unit`` ("db" or "linear") as dB when ``db``, else linear power."""
    if (unit == "db") == db:
        return band
    converted = 10.0 * da.log10(band) if db else 10.0 ** (band / 10.0)
    in_unit: da.Array = converted.astype(np.float32)
    return in_unit


def _warped_block(
    path: str,
    drivers: tuple[str, ...],
    bands: tuple[int, ...],
    grid: Grid,
    block_info: dict[object, object] | None = None,
) -> np.ndarray:
    """One chunk of the raster on ``grid``: each task opens its own dataset (thread-safe)."""
    assert block_info is not None
    location = block_info[None]["array-location"]  # type: ignore[index]
    (_, _), (row0, row1), (col0, col1) = location
    with (
        open_product_raster(path, drivers) as src,
        _warped_view(src, grid) as vrt,
    ):
        window = Window(col0, row0, col1 - col0, row1 - row0)
        data = vrt.read(list(bands), window=window, masked=True, out_dtype="float32")
    return np.asarray(data.filled(np.nan), dtype=np.float32)


def _warped_view(src: Any, grid: Grid) -> WarpedVRT:
    """``src`` resampled (bilinear) onto ``grid``, NaN where it has no data."""
    return WarpedVRT(
        src,
        crs=grid.crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=Resampling.bilinear,
        src_nodata=src.nodata if src.nodata is not None else np.nan,
        nodata=np.nan,
    )


def raster_footprint(path: str, drivers: tuple[str, ...] = S1_MEASUREMENT_DRIVERS) -> BaseGeometry:
    """The lon/lat outline of a raster's valid data, from a decimated read."""
    with open_product_raster(path, drivers) as src:
        if src.crs is None:
            raise GeocolorError(f"{path}: the raster has no CRS")
        scale = max(src.width, src.height) / _OUTLINE_PIXELS
        shape = (max(round(src.height / scale), 1), max(round(src.width / scale), 1))
        data = src.read(1, out_shape=shape, masked=True, resampling=Resampling.nearest)
        valid = np.isfinite(data.filled(np.nan)).astype(np.uint8)
        transform = src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0])
        parts = [
            shapely.geometry.shape(geometry)
            for geometry, value in rasterio.features.shapes(valid, transform=transform)
            if value
        ]
        if not parts:
            raise GeocolorError(f"{path}: the raster holds no valid pixel")
        outline = shapely.union_all(parts).simplify(src.res[0] * scale)
        return reproject_geometry(outline, src.crs, LONLAT)


def open_backscatter_raster(
    path: str, drivers: tuple[str, ...] = S1_MEASUREMENT_DRIVERS
) -> BackscatterRaster:
    """Open a processed Sentinel-1 raster: its bands, grid, product id and time tags.

    The product id is the first of the ``input_products`` (or ``input_product``) tag,
    else the file name without its extension. ``drivers`` are the GDAL drivers it may be
    opened with: GeoTIFF, unless geocolor wrote the file itself.
    """
    with open_product_raster(path, drivers) as src:
        tags = src.tags()
        descriptions = tuple(text or "" for text in src.descriptions)
        if src.crs is None or src.transform.is_identity:
            raise GeocolorError(f"{path}: the raster has no CRS or geotransform")
        if not np.issubdtype(np.dtype(src.dtypes[0]), np.floating):
            # an 8-bit image (a colorized output, a quicklook) has no backscatter to read
            raise GeocolorError(
                f"{path}: the bands are {src.dtypes[0]}, not Sentinel-1 backscatter"
                " (a processed scene holds floating-point sigma0, beta0, gamma0 or gamma0-rtc)"
            )
        grid = Grid(src.crs, src.transform, src.width, src.height)
    products = tags.get("input_products") or tags.get("input_product")
    name = path.rstrip("/").rsplit("/", 1)[-1]
    product_id = products.split(",")[0] if products else name.rsplit(".", 1)[0]
    info = RasterInfo(
        path,
        product_id,
        descriptions,
        tags.get("acquisition_times"),
        tags.get("processing"),
        tuple((key, tags[key]) for key in PROVENANCE_TAGS if key in tags),
    )
    return BackscatterRaster(path, info, grid, drivers)


def is_backscatter_raster(path: str) -> bool:
    """Whether ``path`` is a georeferenced GeoTIFF (CRS and geotransform).

    The ``backscatter-raster`` reader's ``can_open``; a SAFE folder, which GDAL also
    reads, is no GeoTIFF.
    """
    try:
        with open_product_raster(path, S1_MEASUREMENT_DRIVERS) as src:
            return src.crs is not None and not src.transform.is_identity
    except (RasterioError, GeocolorError, OSError, ValueError):
        return False
