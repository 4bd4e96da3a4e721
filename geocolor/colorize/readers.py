"""Scenes to colorize, read window by window on the output grid.

A scene is a raw GRD product (SAFE folder or zip), processed here by the same Sentinel-1
chain as the model's training data, or an already processed backscatter raster (sigma0
dB, any CRS). Either way ``colorize`` sees a :class:`SceneReader`: the output grid (the
scene's, clipped to the AOI, or ``crs``/``resolution``) and a ``read(window)`` that
returns the model's bands in dB with NaN where there is no data. Tiles are read as
inference needs them, so no whole scene is ever held in memory; a GRD product is
processed once into a scratch store first, so overlapping tiles do not repeat the chain.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import dask.array as da
import numpy as np
import rasterio
import rasterio.features
import shapely
import zarr
from affine import Affine
from distributed import Client
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.grid import LONLAT, Grid, grid_covering, reproject_geometry, utm_crs_for
from geocolor.io.cluster import dask_client
from geocolor.io.cog import stream_blocks
from geocolor.io.filesystems import open_raster
from geocolor.prepare.store import hold
from geocolor.s1.backscatter import S1Config, backscatter
from geocolor.s1.safe import open_safe

log = logging.getLogger("geocolor.colorize.readers")

# scratch array of a processed SAFE scene on the output grid
SCENE = "scene"
_SAFE_NAME = re.compile(r"\.(safe|zip)/?$", re.IGNORECASE)
# decimated read used to outline a raster's valid data
_OUTLINE_PIXELS = 512


class SceneReader(Protocol):
    """Windows of a scene on the output grid."""

    grid: Grid
    product_id: str

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """(bands, height, width) float32 dB; NaN outside the scene or without data."""
        ...


def is_safe(path: str) -> bool:
    """Whether ``path`` names a SAFE product (folder or zip) rather than a raster."""
    return bool(_SAFE_NAME.search(path))


def scene_footprint(path: str) -> BaseGeometry:
    """The lon/lat outline of a scene's data: cheap enough to draw on a map."""
    if is_safe(path):
        return open_safe(path).footprint()
    with _open_raster(path) as src:
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


def _open_raster(path: str) -> Any:
    try:
        return open_raster(path)
    except rasterio.errors.RasterioIOError as exc:
        raise GeocolorError(
            f"{path}: neither a SAFE product nor a readable raster ({exc})"
        ) from None


def clip_region(footprint: BaseGeometry, aoi: BaseGeometry | None, path: str) -> BaseGeometry:
    """The lon/lat part of the scene to colorize; an AOI missing the scene is an error."""
    if aoi is None:
        return footprint
    region = footprint.intersection(aoi)
    if region.is_empty or region.area == 0:
        raise UsageError(f"the AOI lies outside the scene {path}")
    return region


@dataclass
class RasterReader:
    """A processed backscatter raster, read through a warped view when regridded.

    Parameters
    ----------
    source
        The open raster or a ``WarpedVRT`` of it on ``grid``'s CRS and transform.
    bands
        1-based band indexes holding the model's bands, in the model's order.
    to_db
        Per band: whether it is linear power to be turned into dB.
    grid
        The output grid; ``offset`` is its top-left pixel in ``source``.
    """

    source: Any
    bands: tuple[int, ...]
    to_db: tuple[bool, ...]
    grid: Grid
    offset: tuple[int, int]
    product_id: str

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Window of the grid; pixels beyond it are NaN."""
        return _padded(self._read_inside, len(self.bands), self.grid, row0, col0, height, width)

    def _read_inside(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        window = Window(col0 + self.offset[1], row0 + self.offset[0], width, height)
        data = self.source.read(list(self.bands), window=window, masked=True, out_dtype="float32")
        image = np.asarray(data.filled(np.nan), dtype=np.float32)
        for band, linear in enumerate(self.to_db):
            if linear:
                with np.errstate(divide="ignore", invalid="ignore"):
                    image[band] = 10 * np.log10(image[band])
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


@dataclass
class ArrayReader:
    """A scene already on the output grid in a (band, row, col) array (a scratch Zarr)."""

    array: zarr.Array
    grid: Grid
    product_id: str

    def read(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        """Window of the grid; pixels beyond it are NaN."""
        return _padded(self._read_inside, self.array.shape[0], self.grid, row0, col0, height, width)

    def _read_inside(self, row0: int, col0: int, height: int, width: int) -> np.ndarray:
        return np.asarray(self.array[:, row0 : row0 + height, col0 : col0 + width])


def band_polarisation(name: str) -> str:
    """``"VV sigma0 dB"`` -> ``"VV"``."""
    return name.split()[0].upper()


@contextmanager
def open_scene(
    path: str,
    sar_bands: Sequence[str],
    sar_processing: dict[str, Any] | None,
    aoi: BaseGeometry | None = None,
    crs: str | None = None,
    resolution: float | None = None,
    scheduler: str | None = None,
) -> Iterator[SceneReader]:
    """Open ``path`` for colorizing on its grid clipped to ``aoi`` (lon/lat).

    Parameters
    ----------
    path
        SAFE folder or zip, or a processed backscatter raster (local or URL).
    sar_bands
        The model's input bands (``"VV sigma0 dB"``...): which polarisations, in order.
    sar_processing
        The model's Sentinel-1 settings (``ModelSpec.sar_processing``), for SAFE input.
    aoi
        Area to colorize; None for the whole scene.
    crs, resolution
        Output grid instead of the scene's.
    scheduler
        Dask scheduler processing a SAFE product (a local cluster when None).
    """
    target_crs = _parse_crs(crs)
    if is_safe(path):
        with _open_safe_scene(
            path, sar_bands, sar_processing, aoi, target_crs, resolution, scheduler
        ) as reader:
            yield reader
        return
    with ExitStack() as stack:
        src = stack.enter_context(_open_raster(path))
        yield _raster_reader(stack, src, path, sar_bands, aoi, target_crs, resolution)


def _parse_crs(crs: str | None) -> CRS | None:
    if crs is None:
        return None
    try:
        return CRS.from_user_input(crs)
    except rasterio.errors.CRSError:
        raise UsageError(f"crs {crs!r} is not a coordinate reference system") from None


def _raster_reader(
    stack: ExitStack,
    src: Any,
    path: str,
    sar_bands: Sequence[str],
    aoi: BaseGeometry | None,
    crs: CRS | None,
    resolution: float | None,
) -> RasterReader:
    if src.crs is None or src.transform.is_identity:
        raise GeocolorError(f"{path}: the raster has no CRS or geotransform")
    bands, to_db = _match_bands(src, path, sar_bands)
    product_id = src.tags().get("input_product") or _stem(path)
    if crs is None and resolution is None:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        if aoi is not None:
            grid, offset = _crop(grid, aoi, path)
        else:
            offset = (0, 0)
        return RasterReader(src, bands, to_db, grid, offset, product_id)
    region = clip_region(scene_footprint(path), aoi, path)
    grid = grid_covering(region, crs or src.crs, resolution or src.res[0])
    vrt = stack.enter_context(warped_view(src, grid))
    return RasterReader(vrt, bands, to_db, grid, (0, 0), product_id)


def warped_view(src: Any, grid: Grid) -> WarpedVRT:
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


def _stem(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0]


def _match_bands(
    src: Any, path: str, sar_bands: Sequence[str]
) -> tuple[tuple[int, ...], tuple[bool, ...]]:
    """The raster's bands holding the model's polarisations, found by band description."""
    descriptions = [text or "" for text in src.descriptions]
    if not all(descriptions):
        if src.count != len(sar_bands):
            raise GeocolorError(
                f"{path}: {src.count} unnamed bands, the model takes {len(sar_bands)} "
                f"({', '.join(sar_bands)}); name the bands in their descriptions"
            )
        log.warning("%s: bands have no descriptions, taken as %s", path, ", ".join(sar_bands))
        return tuple(range(1, src.count + 1)), (False,) * src.count
    by_polarisation = {band_polarisation(text): index for index, text in enumerate(descriptions)}
    indexes, linear = [], []
    for band in sar_bands:
        found = by_polarisation.get(band_polarisation(band))
        if found is None:
            raise GeocolorError(
                f"{path}: no {band_polarisation(band)} band (has {', '.join(descriptions)})"
            )
        indexes.append(found + 1)
        linear.append("linear" in descriptions[found].lower().split())
    return tuple(indexes), tuple(linear)


def _crop(grid: Grid, aoi: BaseGeometry, path: str) -> tuple[Grid, tuple[int, int]]:
    """The sub-grid of pixels whose centres lie within the AOI's bounds on ``grid``."""
    projected = reproject_geometry(aoi.segmentize(0.01), LONLAT, grid.crs)
    left, bottom, right, top = projected.bounds
    inverse = ~grid.transform
    (x0, y0), (x1, y1) = inverse @ (left, top), inverse @ (right, bottom)
    cols, rows = sorted((x0, x1)), sorted((y0, y1))
    col0, col1 = max(math.floor(cols[0] + 0.5), 0), min(math.floor(cols[1] + 0.5), grid.width)
    row0, row1 = max(math.floor(rows[0] + 0.5), 0), min(math.floor(rows[1] + 0.5), grid.height)
    overlaps = cols[1] > 0 and cols[0] < grid.width and rows[1] > 0 and rows[0] < grid.height
    if not overlaps:
        raise UsageError(f"the AOI lies outside the scene {path}")
    if col1 <= col0 or row1 <= row0:
        raise UsageError(f"the AOI is too small to hold a pixel of the scene {path}")
    sub = Grid(grid.crs, grid.window_transform(row0, col0), col1 - col0, row1 - row0)
    return sub, (row0, col0)


@contextmanager
def _open_safe_scene(
    path: str,
    sar_bands: Sequence[str],
    sar_processing: dict[str, Any] | None,
    aoi: BaseGeometry | None,
    crs: CRS | None,
    resolution: float | None,
    scheduler: str | None,
) -> Iterator[ArrayReader]:
    product = open_safe(path)
    config = _s1_config(sar_bands, sar_processing)
    region = clip_region(product.footprint(), aoi, path)
    centre = product.footprint().centroid
    grid = grid_covering(
        region, crs or utm_crs_for(centre.x, centre.y), resolution or config.resolution
    )
    if 0 in grid.shape:
        raise UsageError(f"the AOI is too small to hold a pixel of the scene {path}")
    with (
        dask_client(scheduler) as client,
        tempfile.TemporaryDirectory(prefix="geocolor-scene-") as scratch,
    ):
        group = zarr.open_group(scratch, mode="w")
        # a remote cluster's workers cannot see local scratch: there the graph stays
        # whole and its blocks come back to this process to be stored
        local = client.cluster is not None
        result = backscatter(
            product,
            config,
            grid=grid,
            hold=(lambda image: hold(image, group, "radar", client)) if local else None,
        )
        if local:
            hold(result.image, group, SCENE, client)
        else:
            _fetch_into(result.image, group, client)
        log.info("processed %s onto a %d x %d grid", product.info.product_id, *grid.shape[::-1])
        array = group[SCENE]
        assert isinstance(array, zarr.Array)
        yield ArrayReader(array, grid, product.info.product_id)


def _fetch_into(image: da.Array, group: zarr.Group, client: Client) -> None:
    """Compute ``image`` on a remote cluster into the local scratch array ``SCENE``."""
    target = group.create_array(
        SCENE,
        shape=image.shape,
        chunks=(image.shape[0], *(max(axis) for axis in image.chunks[1:])),
        dtype=image.dtype,
        fill_value=np.nan,
    )

    def store(block: np.ndarray, row0: int, col0: int) -> None:
        target[:, row0 : row0 + block.shape[1], col0 : col0 + block.shape[2]] = block

    stream_blocks(image, client, store, desc="processing")


def _s1_config(sar_bands: Sequence[str], sar_processing: dict[str, Any] | None) -> S1Config:
    """The training data's Sentinel-1 settings, for the model's polarisations, in dB."""
    settings = {key: value for key, value in (sar_processing or {}).items() if value is not None}
    measures = {band.split()[1] for band in sar_bands if len(band.split()) > 1}
    if len(measures) == 1:
        settings["measure"] = measures.pop()
    settings.update(
        polarisations=tuple(band_polarisation(band) for band in sar_bands), db=True, grid="utm"
    )
    known = {key: value for key, value in settings.items() if key in S1Config.model_fields}
    return S1Config.model_validate(known)
