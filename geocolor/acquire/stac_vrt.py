"""GDAL VRTs over remote COGs: a local file that reads the assets in place.

A VRT stacks single-band COGs into one raster with band descriptions and metadata
tags, which is what the processed-backscatter reader and the band-file reader take
their meaning from; no pixel is copied. The COGs are read through ``/vsicurl/``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.errors import RasterioError

from geocolor.errors import GeocolorError
from geocolor.io.filesystems import atomic_write

_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}
_REMOTE = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "3"}


@dataclass(frozen=True)
class RemoteBand:
    """The first band of the COG at ``href``, described as ``description``."""

    href: str
    description: str


def write_vrt(
    path: Path, bands: list[RemoteBand], tags: dict[str, str], *, georeferenced: bool
) -> Path:
    """Write a VRT of ``bands`` (all on one grid) with dataset ``tags``; return its path.

    ``georeferenced`` refuses COGs with no CRS and geotransform (radar geometry).
    """
    headers = [_header(band.href) for band in bands]
    first = headers[0]
    for band, header in zip(bands, headers, strict=True):
        if georeferenced and (header.crs is None or header.transform.is_identity):
            raise GeocolorError(
                f"{_plain(band.href)}: in radar geometry (no CRS); only the item's SAFE "
                "product, or a terrain-corrected collection, can be used"
            )
        if (header.width, header.height, header.crs, header.transform) != (
            first.width,
            first.height,
            first.crs,
            first.transform,
        ):
            raise GeocolorError(f"{_plain(band.href)}: not on the grid of {_plain(bands[0].href)}")
    root = ET.Element("VRTDataset", rasterXSize=str(first.width), rasterYSize=str(first.height))
    if first.crs is not None:
        ET.SubElement(root, "SRS").text = first.crs.to_wkt()
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(value) for value in first.transform.to_gdal()
    )
    _metadata(root, tags)
    for index, (band, header) in enumerate(zip(bands, headers, strict=True), start=1):
        element = ET.SubElement(
            root, "VRTRasterBand", dataType=_GDAL_TYPES[header.dtype], band=str(index)
        )
        ET.SubElement(element, "Description").text = band.description
        if header.nodata is not None:
            ET.SubElement(element, "NoDataValue").text = repr(header.nodata)
        source = ET.SubElement(element, "SimpleSource")
        ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = f"/vsicurl/{band.href}"
        ET.SubElement(source, "SourceBand").text = "1"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(str(path)) as stream:
        stream.write(ET.tostring(root))
    return path


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    crs: rasterio.crs.CRS | None
    transform: rasterio.Affine
    dtype: str
    nodata: float | None


def _header(href: str) -> _Header:
    try:
        with rasterio.Env(**_REMOTE), rasterio.open(f"/vsicurl/{href}") as src:
            return _Header(src.width, src.height, src.crs, src.transform, src.dtypes[0], src.nodata)
    except RasterioError as exc:
        raise GeocolorError(f"{_plain(href)}: cannot open the COG ({exc})") from None


def _metadata(parent: ET.Element, tags: dict[str, str]) -> None:
    if not tags:
        return
    metadata = ET.SubElement(parent, "Metadata")
    for key, value in tags.items():
        ET.SubElement(metadata, "MDI", key=key).text = value


def _plain(href: str) -> str:
    """``href`` without its query, which may hold a signature."""
    return href.split("?")[0]
