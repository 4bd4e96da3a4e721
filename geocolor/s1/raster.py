"""Sentinel-1 backscatter that arrives already processed: a GeoTIFF/COG per acquisition.

``geocolor fetch`` (Sentinel Hub) and ``geocolor process-s1`` write such rasters: float32
sigma0 or gamma0, one band per polarisation described as ``"VV sigma0 dB"`` (or
``linear``), NaN as nodata, with the product and its time in the tags. ``prepare``
pairs them like SAFE products and warps them onto the Sentinel-2 grid chunk by chunk,
so a folder of fetched files trains a model as raw products do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import dask.array as da
import numpy as np
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor import __version__
from geocolor.colorize.readers import band_polarisation, is_safe, scene_footprint, warped_view
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Georeference, Grid
from geocolor.io.filesystems import open_raster
from geocolor.s1.backscatter import Backscatter, S1Config
from geocolor.s1.safe import SafeProduct, open_safe

# a Sentinel-1 time in a product id or file name: 20210614T052647
_TIME = re.compile(r"(\d{8}T\d{6})")
# chunk of the warped image (pixels per side)
WARP_CHUNK = 1024


@dataclass(frozen=True)
class RasterInfo:
    """What pairing and the store record of a processed acquisition."""

    product_id: str
    start_time: datetime
    descriptions: tuple[str, ...]


@dataclass(frozen=True)
class BackscatterRaster:
    """A processed Sentinel-1 raster, opened without reading pixels."""

    path: str
    info: RasterInfo
    outline: BaseGeometry

    def footprint(self) -> BaseGeometry:
        """Lon/lat outline of the raster's valid data (read once, when opened)."""
        return self.outline

    def on_grid(self, config: S1Config, grid: Grid) -> Backscatter:
        """The raster warped (bilinear) onto ``grid`` lazily, in ``config``'s unit.

        The raster's measure must be ``config.measure``; each band is turned into dB or
        linear power as ``config.db`` says. Polarisations: ``config.polarisations`` or all.
        """
        bands = self._bands(config)
        chunks = (len(bands), WARP_CHUNK, WARP_CHUNK)
        image = da.map_blocks(
            _warped_block,
            path=self.path,
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
            tags={"geocolor_version": __version__, "input_product": self.info.product_id},
        )

    def _bands(self, config: S1Config) -> list[tuple[int, str]]:
        """(1-based index, description) of the wanted bands, checked against ``config``."""
        found = {}
        for index, text in enumerate(self.info.descriptions, start=1):
            words = text.split()
            if len(words) != 3 or words[2].lower() not in {"db", "linear"}:
                raise GeocolorError(
                    f"{self.path}: band {index} is described {text!r}, not like 'VV sigma0 dB'"
                )
            if words[1] != config.measure:
                raise GeocolorError(
                    f"{self.path}: band {index} holds {words[1]}, not {config.measure}"
                )
            found[band_polarisation(text)] = (index, text)
        wanted = config.polarisations or tuple(found)
        missing = [pol for pol in wanted if pol.upper() not in found]
        if missing:
            raise GeocolorError(
                f"{self.path}: no {', '.join(missing)} band (has {', '.join(found)})"
            )
        return [found[pol.upper()] for pol in wanted]


def _to_unit(band: da.Array, unit: str, db: bool) -> da.Array:
    """A band in ``unit`` ("db" or "linear") as dB when ``db``, else linear power."""
    if (unit == "db") == db:
        return band
    converted = 10.0 * da.log10(band) if db else 10.0 ** (band / 10.0)
    return converted.astype(np.float32)


def _warped_block(
    path: str, bands: tuple[int, ...], grid: Grid, block_info: dict[object, object] | None = None
) -> np.ndarray:
    """One chunk of the raster on ``grid``: each task opens its own dataset (thread-safe)."""
    assert block_info is not None
    location = block_info[None]["array-location"]  # type: ignore[index]
    (_, _), (row0, row1), (col0, col1) = location
    with (
        open_raster(path) as src,
        warped_view(src, grid) as vrt,
    ):
        window = Window(col0, row0, col1 - col0, row1 - row0)
        data = vrt.read(list(bands), window=window, masked=True, out_dtype="float32")
    return np.asarray(data.filled(np.nan), dtype=np.float32)


def open_backscatter_raster(path: str) -> BackscatterRaster:
    """Open a processed Sentinel-1 raster; its time from the tags or the product id."""
    with open_raster(path) as src:
        tags = src.tags()
        descriptions = tuple(text or "" for text in src.descriptions)
        if src.crs is None:
            raise GeocolorError(f"{path}: the raster has no CRS")
    if not all(descriptions):
        raise GeocolorError(f"{path}: bands need descriptions naming them, like 'VV sigma0 dB'")
    products = tags.get("input_products") or tags.get("input_product") or path.rsplit("/", 1)[-1]
    product_id = products.split(",")[0].removesuffix(".tif")
    times = tags.get("acquisition_times")
    if times:
        start = datetime.fromisoformat(times.split(",")[0])
    else:
        match = _TIME.search(product_id)
        if match is None:
            raise GeocolorError(
                f"{path}: no acquisition time (tag acquisition_times, or a time in the name)"
            )
        start = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    return BackscatterRaster(
        path, RasterInfo(product_id, start, descriptions), scene_footprint(path)
    )


def open_s1_product(path: str) -> SafeProduct | BackscatterRaster:
    """A GRD SAFE (folder or zip) or a processed backscatter raster, by its name."""
    return open_safe(path) if is_safe(path) else open_backscatter_raster(path)
