"""``dem: copernicus``: Copernicus DEM GLO-30 tiles over a scene, cached and mosaicked.

The tiles are the public Cloud Optimized GeoTIFFs of the open-data bucket, one per
1° x 1° cell named after its south-west corner
(``Copernicus_DSM_COG_10_N45_00_E006_00_DEM/Copernicus_DSM_COG_10_N45_00_E006_00_DEM.tif``),
from ``$GEOCOLOR_COPERNICUS_DEM_URL`` (a mirror) or the bucket itself. Each tile is
downloaded once into ``$GEOCOLOR_DEM_CACHE`` (``$XDG_CACHE_HOME/geocolor/dem`` by
default), under its name only once complete, so an interrupted download is fetched
again rather than trusted. The bucket has no tiles over open sea: a 404 is sea level,
said once and recorded in provenance. A VRT written beside the tiles mosaics them; its
CRS carries the EGM2008 vertical datum GLO-30 heights are given in, so
:func:`geocolor.s1.dem.open_dem` converts them to ellipsoidal heights.
"""

from __future__ import annotations

import hashlib
import math
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import rasterio
import requests
import shapely
from rasterio.crs import CRS
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError
from geocolor.io.filesystems import atomic_write
from geocolor.progress import note, progress
from geocolor.s1.dem import Dem, open_dem

COPERNICUS = "copernicus"
"""The ``dem`` value that asks for Copernicus DEM GLO-30 tiles over the scene."""
URL_ENV = "GEOCOLOR_COPERNICUS_DEM_URL"
CACHE_ENV = "GEOCOLOR_DEM_CACHE"
DEFAULT_URL = "https://copernicus-dem-30m.s3.amazonaws.com/"
HEIGHT_CRS = "EPSG:4326+3855"
"""WGS84 with EGM2008 heights, the reference GLO-30 is distributed in."""
MARGIN_DEGREES = 0.1
"""Added around the footprint: the output grid's corners reach a little beyond it."""
_CHUNK = 1 << 16
_TIMEOUT = 120


def tile_name(lat: int, lon: int) -> str:
    """The GLO-30 name of the 1° tile whose south-west corner is (``lat``, ``lon``)."""
    north = f"{'N' if lat >= 0 else 'S'}{abs(lat):02d}_00"
    east = f"{'E' if lon >= 0 else 'W'}{abs(lon):03d}_00"
    return f"Copernicus_DSM_COG_10_{north}_{east}_DEM"


def tiles_over(footprint: BaseGeometry, margin: float = MARGIN_DEGREES) -> list[str]:
    """Names of the tiles meeting ``footprint`` (lon/lat) widened by ``margin`` degrees."""
    area = footprint.buffer(margin)
    west, south, east, north = area.bounds
    if east - west > 180:
        raise GeocolorError(
            "the scene crosses the antimeridian, which dem: copernicus does not handle; "
            "give a DEM raster instead"
        )
    return [
        tile_name(lat, lon)
        for lat in range(max(math.floor(south), -90), min(math.ceil(north), 90))
        for lon in range(math.floor(west), math.ceil(east))
        if area.intersects(shapely.box(lon, lat, lon + 1, lat + 1))
    ]


def cache_folder() -> Path:
    """Where tiles are kept: ``$GEOCOLOR_DEM_CACHE``, else ``$XDG_CACHE_HOME/geocolor/dem``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "geocolor" / "dem"


def copernicus_dem(footprint: BaseGeometry, extent: BaseGeometry | None = None) -> Dem:
    """The GLO-30 mosaic over ``footprint``, its tiles fetched into the cache as needed.

    The mosaic also spans ``extent`` (the output grid's lon/lat outline), whose
    coverage the terrain correction checks; cells of it beyond the footprint's margin
    are not fetched and read 0, as no output pixel there falls inside the scene.
    """
    base = os.environ.get(URL_ENV) or DEFAULT_URL
    folder = cache_folder()
    names = tiles_over(footprint)
    with requests.Session() as session:
        found = {
            name: fetch_tile(session, base, name, folder)
            for name in progress(names, desc="Copernicus DEM tiles", unit="tile")
        }
    tiles = [path for path in found.values() if path is not None]
    sea = len(names) - len(tiles)
    source = f"copernicus GLO-30 {base} (tiles: {len(names)}"
    if sea:
        note(f"Copernicus DEM: {sea} of {len(names)} tiles absent (open sea), taken as sea level")
        source += f", absent and taken as sea level: {sea}"
    cells = sorted({*names, *([] if extent is None else tiles_over(extent, margin=0.0))})
    return open_dem(str(mosaic(cells, tiles, folder)), f"{source})")


def fetch_tile(session: requests.Session, base: str, name: str, folder: Path) -> Path | None:
    """The cached tile ``name``, downloaded from ``base`` if need be; None where there is
    none (HTTP 404: open sea)."""
    target = folder / f"{name}.tif"
    if target.is_file():
        return target
    url = f"{base.rstrip('/')}/{name}/{name}.tif"
    try:
        with session.get(url, stream=True, timeout=_TIMEOUT) as response:
            if response.status_code == requests.codes.not_found:
                return None
            if response.status_code != requests.codes.ok:
                raise GeocolorError(f"{url}: HTTP {response.status_code}")
            # a body shorter than its Content-Length raises (urllib3 checks it) inside
            # the atomic write, so no partial tile is ever kept
            with atomic_write(str(target)) as stream:
                for chunk in response.iter_content(_CHUNK):
                    stream.write(chunk)
    except requests.RequestException as exc:
        raise GeocolorError(
            f"{url}: download failed, nothing kept ({type(exc).__name__})"
        ) from None
    return target


def mosaic(names: list[str], tiles: list[Path], folder: Path) -> Path:
    """A VRT over ``tiles`` in ``folder`` spanning the cells ``names``, named after them.

    Absent tiles leave no source, and a VRT band without nodata reads 0 there: sea level.
    Output beyond the cells stays uncovered.
    """
    cells = [_cell(name) for name in names]
    opened = [_tile_layout(path) for path in tiles]
    resolution = min((layout[1] for layout in opened), default=1.0 / 3600)
    west = min(lon for _, lon in cells) - resolution / 2
    north = max(lat for lat, _ in cells) + 1 + resolution / 2
    width = (
        round((max(lon for _, lon in cells) + 1 - min(lon for _, lon in cells)) / resolution) + 1
    )
    height = round((north - resolution / 2 - min(lat for lat, _ in cells)) / resolution) + 1
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS").text = CRS.from_string(HEIGHT_CRS).to_wkt()
    ET.SubElement(
        root, "GeoTransform"
    ).text = f"{west!r}, {resolution!r}, 0.0, {north!r}, 0.0, {-resolution!r}"
    band = ET.SubElement(root, "VRTRasterBand", dataType="Float32", band="1")
    for path, (bounds, _, size) in zip(tiles, opened, strict=True):
        source = ET.SubElement(band, "ComplexSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = str(path.resolve())
        ET.SubElement(source, "SourceBand").text = "1"
        ET.SubElement(source, "SrcRect", xOff="0", yOff="0", xSize=str(size[0]), ySize=str(size[1]))
        left, bottom, right, top = bounds
        ET.SubElement(
            source,
            "DstRect",
            xOff=repr((left - west) / resolution),
            yOff=repr((north - top) / resolution),
            xSize=repr((right - left) / resolution),
            ySize=repr((top - bottom) / resolution),
        )
    digest = hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]
    target = folder / "mosaics" / f"glo30-{digest}.vrt"
    with atomic_write(str(target)) as stream:
        stream.write(ET.tostring(root))
    return target


def _cell(name: str) -> tuple[int, int]:
    """(lat, lon) of the south-west corner that ``name`` (:func:`tile_name`) stands for."""
    parts = name.split("_")
    lat, lon = int(parts[4][1:]), int(parts[6][1:])
    return (-lat if parts[4][0] == "S" else lat, -lon if parts[6][0] == "W" else lon)


def _tile_layout(path: Path) -> tuple[tuple[float, float, float, float], float, tuple[int, int]]:
    """A tile's bounds, finest pixel size (degrees) and (width, height); unreadable is an error."""
    try:
        with rasterio.open(path) as src:
            return tuple(src.bounds), min(abs(src.res[0]), abs(src.res[1])), (src.width, src.height)
    except rasterio.errors.RasterioIOError as exc:
        raise GeocolorError(f"{path}: cached Copernicus DEM tile unreadable ({exc})") from None
