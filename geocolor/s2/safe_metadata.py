"""Reading an L2A SAFE product's metadata: ``MTD_MSIL2A.xml`` and the granule's ``MTD_TL.xml``.

``MTD_MSIL2A.xml`` is the authority: band files are located through its
``IMAGE_FILE`` entries, and the radiometric offsets (baseline 04.00 onwards) and the
quantification value come from it; the tile grid at each resolution and the CRS come
from ``MTD_TL.xml``. ESA mixes namespace-prefixed and bare tags, so every lookup
matches tags in any namespace.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from types import MappingProxyType

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError
from shapely.geometry import Polygon

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.io.xml import (
    local_name,
    required_integer,
    required_number,
    required_text,
    required_time,
)
from geocolor.s2.archive import Archive
from geocolor.s2.parts import SCL, TILE_IN_NAME, BandFile, ProductParts, S2Info

__all__ = ["read_safe_metadata"]

_SAFE_IMAGE = re.compile(r"_(B\d\d|B8A|SCL)_(\d+)m$")
# band file extension per Granule imageFormat: ESA writes JPEG2000; GeoTIFF is for
# products re-encoded for speed (geocolor's full-size synthetic tiles)
_IMAGE_EXTENSIONS = {"JPEG2000": ".jp2", "GeoTIFF": ".tif"}


def read_safe_metadata(archive: Archive, present: set[str]) -> ProductParts:
    """The parts of the SAFE product in ``archive``, whose files are ``present``.

    Band files the metadata lists but ``present`` lacks are remembered as missing
    rather than refused, so a product with only some resolutions still opens.
    """
    mtd_name = posixpath.join(archive.label, "MTD_MSIL2A.xml")
    mtd = archive.xml("MTD_MSIL2A.xml")
    if local_name(mtd.tag) != "Level-2A_User_Product":
        raise GeocolorError(f"{mtd_name}: root element is {local_name(mtd.tag)}, not Level-2A")
    granules = mtd.findall(".//{*}Granule")
    image_files = [el.text or "" for el in granules[0].iter("IMAGE_FILE")] if granules else []
    if not image_files:
        raise GeocolorError(f"{mtd_name}: lists no Granule/IMAGE_FILE")
    image_format = granules[0].get("imageFormat", "JPEG2000")
    extension = _IMAGE_EXTENSIONS.get(image_format)
    if extension is None:
        raise GeocolorError(f"{mtd_name}: unsupported imageFormat {image_format!r}")
    granule = image_files[0].split("/IMG_DATA/")[0]
    tile = archive.xml(posixpath.join(granule, "MTD_TL.xml"))
    tile_name = posixpath.join(archive.label, granule, "MTD_TL.xml")
    crs = _crs(required_text(tile, ".//{*}HORIZONTAL_CS_CODE", tile_name), tile_name)
    grids = _tile_grids(tile, crs, tile_name)
    quantification = required_number(mtd, ".//{*}BOA_QUANTIFICATION_VALUE", mtd_name)
    offsets = _offsets(mtd, mtd_name)
    files: dict[tuple[str, int], BandFile] = {}
    missing: dict[tuple[str, int], str] = {}
    for image in image_files:
        match = _SAFE_IMAGE.search(image)
        if match is None:
            continue
        band, resolution = match.group(1), int(match.group(2))
        if f"{image}{extension}" not in present:
            missing[(band, resolution)] = posixpath.basename(f"{image}{extension}")
            continue
        offset = 0.0 if band == SCL else offsets.get(band, 0.0)
        files[(band, resolution)] = BandFile(
            archive.raster(f"{image}{extension}"), offset, quantification, 0.0
        )
    product_uri = required_text(mtd, ".//{*}PRODUCT_URI", mtd_name)
    tile_match = TILE_IN_NAME.search(required_text(tile, ".//{*}TILE_ID", tile_name))
    info = S2Info(
        product_id=product_uri.removesuffix(".SAFE"),
        spacecraft=required_text(mtd, ".//{*}SPACECRAFT_NAME", mtd_name),
        sensing_time=required_time(tile, ".//{*}SENSING_TIME", tile_name),
        processing_baseline=required_text(mtd, ".//{*}PROCESSING_BASELINE", mtd_name),
        tile_id=tile_match.group(1) if tile_match else None,
        crs=crs,
        cloud_cover_percent=required_number(mtd, ".//{*}Cloud_Coverage_Assessment", mtd_name),
        offsets=MappingProxyType(offsets),
        quantification_value=quantification,
    )
    return ProductParts(info, files, grids, _footprint(mtd, mtd_name), missing)


def _crs(code: str, name: str) -> CRS:
    try:
        return CRS.from_string(code)
    except (CRSError, ValueError):
        raise GeocolorError(f"{name}: HORIZONTAL_CS_CODE {code[:40]!r} is not a CRS") from None


def _offsets(mtd: ET.Element, source: str) -> dict[str, float]:
    """Per-band DN offsets; products before baseline 04.00 list none, meaning 0."""
    names = {
        element.get("bandId"): _band_name(element.get("physicalBand", ""))
        for element in mtd.iterfind(".//{*}Spectral_Information")
    }
    offsets = dict.fromkeys(names.values(), 0.0)
    for element in mtd.iterfind(".//{*}BOA_ADD_OFFSET"):
        band_id = element.get("band_id")
        if band_id not in names:
            raise GeocolorError(f"{source}: BOA_ADD_OFFSET for unknown band_id {band_id!r}")
        offsets[names[band_id]] = required_number(element, ".", source)
    return offsets


def _band_name(physical: str) -> str:
    """File-name spelling of a band: ``B1`` -> ``B01``, ``B8A`` stays."""
    return physical if physical.endswith("A") else f"B{int(physical[1:]):02d}"


def _tile_grids(tile: ET.Element, crs: CRS, name: str) -> dict[int, Grid]:
    sizes = {int(el.get("resolution", 0)): el for el in tile.iterfind(".//{*}Size")}
    grids = {}
    for position in tile.iterfind(".//{*}Geoposition"):
        resolution = int(position.get("resolution", 0))
        if resolution not in sizes:
            raise GeocolorError(f"{name}: Geoposition at {resolution} m has no Size")
        x_step, x0, y_step, y0 = (
            required_number(position, f".//{{*}}{tag}", name)
            for tag in ("XDIM", "ULX", "YDIM", "ULY")
        )
        transform = Affine(x_step, 0.0, x0, 0.0, y_step, y0)
        width = required_integer(sizes[resolution], ".//{*}NCOLS", name)
        height = required_integer(sizes[resolution], ".//{*}NROWS", name)
        if width <= 0 or height <= 0:
            raise GeocolorError(f"{name}: the {resolution} m grid is {width} x {height} pixels")
        grids[resolution] = Grid(crs, transform, width, height)
    return grids


def _footprint(mtd: ET.Element, name: str) -> Polygon | None:
    """The Global_Footprint ring (lat lon pairs in the XML) as a lon/lat polygon."""
    ring = mtd.find(".//{*}EXT_POS_LIST")
    if ring is None:
        return None
    try:
        values = np.asarray((ring.text or "").split(), dtype=float)
    except ValueError:
        values = np.array([np.nan])
    if values.size % 2 or values.size < 8 or not np.isfinite(values).all():
        raise GeocolorError(f"{name}: EXT_POS_LIST is not a ring of finite lat lon pairs")
    return Polygon(values.reshape(-1, 2)[:, ::-1])
