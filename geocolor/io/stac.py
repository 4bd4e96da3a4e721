"""STAC metadata of geocolor's outputs: the parts a COG's Item and a store's Items share.

A colorized COG gets a STAC Item beside it, a prepared store a STAC Collection with
an Item per pair (:mod:`geocolor.colorize.stac_item`, :mod:`geocolor.prepare.catalog`).
Both describe rasters on a :class:`~geocolor.geo.grid.Grid`, so the footprint (lon/lat
geometry and bbox), the projection extension's fields and the ``processing:`` fields
are built here once. Hrefs are written relative to the JSON file, so an Item and its
assets can be copied or moved together (to a bucket, say) and still resolve.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pystac
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, NoDataStrings, RasterBand, RasterExtension
from shapely.geometry import mapping

from geocolor import __version__
from geocolor.geo.grid import Grid
from geocolor.io.filesystems import atomic_write, is_remote

#: The processing extension (its 1.0.0 fields: lineage, level, facility, software).
PROCESSING_EXTENSION = "https://stac-extensions.github.io/processing/v1.0.0/schema.json"
#: Media type of a Zarr store or array (the STAC best practices' name for it).
ZARR = "application/vnd+zarr"
#: Prefix of geocolor's own fields (model, drift verdict, tile counts...).
PREFIX = "geocolor:"


def footprint(grid: Grid) -> tuple[dict[str, Any], list[float]]:
    """The grid's outline as a GeoJSON geometry in lon/lat, and its lon/lat bbox.

    The outline is densified before it is projected, so the geometry and the bbox
    hold the whole grid even where its edges curve in lon/lat.
    """
    outline = grid.footprint_lonlat()
    return mapping(outline), [float(value) for value in outline.bounds]


def apply_projection(item: pystac.Item, grid: Grid) -> None:
    """Projection fields of ``grid``: ``proj:code`` (or WKT2), shape, transform, bbox.

    ``proj:transform`` is the first six coefficients of the affine transform, as
    rasterio and GDAL order them, and ``proj:shape`` is (rows, columns).
    """
    epsg = grid.crs.to_epsg()
    ProjectionExtension.ext(item, add_if_missing=True).apply(
        code=f"EPSG:{epsg}" if epsg is not None else None,
        wkt2=None if epsg is not None else grid.crs.to_wkt(version="WKT2_2019"),
        shape=[grid.height, grid.width],
        transform=[float(value) for value in list(grid.transform)[:6]],
        bbox=[float(value) for value in grid.bounds],
    )


def apply_raster_bands(
    asset: pystac.Asset,
    data_type: str,
    count: int,
    resolution: float,
    nodata: float | NoDataStrings | None = None,
) -> None:
    """Raster extension bands of ``asset``: ``count`` alike bands of ``data_type``.

    ``nodata`` is a value, NaN or an infinity; None where the file marks its gaps
    another way (a colorized COG's internal mask).
    """
    RasterExtension.ext(asset, add_if_missing=True).apply(
        [
            RasterBand.create(
                nodata=nodata, data_type=DataType(data_type), spatial_resolution=resolution
            )
            for _ in range(count)
        ]
    )


def apply_processing(item: pystac.Item, level: str | None, lineage: str) -> None:
    """The processing extension's fields: geocolor's version, the lineage, the level if any."""
    item.properties.update(
        {"processing:software": {"geocolor": __version__}, "processing:lineage": lineage}
    )
    if level is not None:
        item.properties["processing:level"] = level
    if PROCESSING_EXTENSION not in item.stac_extensions:
        item.stac_extensions.append(PROCESSING_EXTENSION)


def with_prefix(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` as geocolor's own STAC fields (``geocolor:NAME``)."""
    return {PREFIX + name: value for name, value in fields.items()}


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive time is taken to be UTC, as Sentinel metadata are."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def source_href(location: str) -> str:
    """An href for an input: a URL as it is, a local path made absolute."""
    if is_remote(location):
        return location
    return str(pystac.utils.make_absolute_href(location))


def derived_from(products: Iterable[tuple[str, str]]) -> list[pystac.Link]:
    """``derived_from`` links to the inputs, given as (product id, path or URL)."""
    return [
        pystac.Link(pystac.RelType.DERIVED_FROM, source_href(location), title=product_id)
        for product_id, location in products
    ]


def write_json(document: Mapping[str, Any], path: str) -> None:
    """``document`` as JSON at ``path`` (local or URL), appearing only when whole."""
    with atomic_write(path) as stream:
        stream.write(json.dumps(document, indent=2).encode())
        stream.write(b"\n")
