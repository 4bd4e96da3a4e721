"""The STAC Item beside a colorized COG: ``OUT.tif`` is described by ``OUT.json``.

The Item makes the COG visible to STAC tools (catalogues, QGIS's STAC browser,
stackstac, odc-stac): its footprint and time, its grid (projection extension), its
bands (raster and eo extensions), how it was made (processing extension: geocolor's
version, the model's URI and version) and the Sentinel-1 product it came from, as a
``derived_from`` link. The drift verdict, already in the COG's tags, is a property,
and the full drift report a ``metadata`` asset. Everything comes from the COG's
provenance tags and grid, so the Item says what the file says.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pystac
from pystac.extensions.eo import Band, EOExtension

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.io.stac import (
    apply_processing,
    apply_projection,
    apply_raster_bands,
    derived_from,
    footprint,
    utc,
    with_prefix,
    write_json,
)
from geocolor.s1.source import S1Source

log = logging.getLogger("geocolor.colorize.stac_item")

#: The COG's asset key: the conventional key of a true-colour image.
ASSET = "visual"
#: The drift report's asset key.
DRIFT_ASSET = "drift"
#: What the COG's bands show, in order.
COMMON_NAMES = ("red", "green", "blue")
#: The COG's tags that are also properties of its Item (``geocolor:TAG``), where set.
PROPERTY_TAGS = (
    "model_uri",
    "model_name",
    "model_version",
    "input_product",
    "drift_verdict",
    "drift_summary",
)
#: A model's colours are derived from level-1 radar: a level-2 product in STAC's terms.
LEVEL = "L2"
#: Sentinel-1A's launch: no Sentinel-1 scene was acquired before it.
SENTINEL1_START = datetime(2014, 4, 3, tzinfo=UTC)


def item_path(output: str) -> str:
    """Where the Item of the COG ``output`` goes: the same name, ending in ``.json``."""
    return posixpath.splitext(output)[0] + ".json"


def colorized_item(
    output: str,
    grid: Grid,
    tags: Mapping[str, str],
    acquired: datetime | None,
    bands: Sequence[str],
    drift_report: str | None,
) -> pystac.Item:
    """The Item of the COG ``output``.

    Parameters
    ----------
    output
        The COG (local path or URL); the Item lies beside it and points to it by name.
    grid
        The COG's grid.
    tags
        The COG's provenance tags (model, input, drift verdict...).
    acquired
        When the input scene was acquired: the Item's ``datetime``. None when the
        input does not say (a plain GeoTIFF): STAC needs a time, so the Item then
        gives the only interval known to hold it, from Sentinel-1A's launch to now
        (``start_datetime``/``end_datetime``, ``datetime`` null), and says
        ``geocolor:acquisition_time: unknown``.
    bands
        The model's bands shown as red, green and blue (``B04``, ``B03``, ``B02``).
    drift_report
        The drift report's sidecar beside the COG, or None when none was written.
    """
    name = posixpath.basename(output)
    geometry, bbox = footprint(grid)
    created = datetime.now(UTC)
    fields = {key: tags[key] for key in PROPERTY_TAGS if tags[key]}
    if acquired is None:
        fields["acquisition_time"] = "unknown"
    item = pystac.Item(
        id=posixpath.splitext(name)[0] or name,
        geometry=geometry,
        bbox=bbox,
        datetime=None if acquired is None else utc(acquired),
        properties=with_prefix(fields),
        start_datetime=SENTINEL1_START if acquired is None else None,
        end_datetime=created if acquired is None else None,
    )
    item.common_metadata.created = created
    apply_projection(item, grid)
    version = f" version {tags['model_version']}" if tags["model_version"] else ""
    apply_processing(
        item,
        LEVEL,
        f"Colorized from the Sentinel-1 product {tags['input_product']} by the model "
        f"{tags['model_uri']}{version} ({tags['backend']}) with geocolor "
        f"{tags['geocolor_version']}",
    )
    item.add_links(derived_from([(tags["input_product"], tags["input"])]))
    item.add_asset(ASSET, _cog_asset(name))
    asset = item.assets[ASSET]
    apply_raster_bands(asset, "uint8", len(bands), grid.resolution[0])
    EOExtension.ext(asset, add_if_missing=True).apply(
        bands=[
            Band.create(name=band, common_name=common)
            for band, common in zip(bands, COMMON_NAMES, strict=True)
        ]
    )
    if drift_report is not None:
        item.add_asset(
            DRIFT_ASSET,
            pystac.Asset(
                href=f"./{posixpath.basename(drift_report)}",
                media_type=pystac.MediaType.JSON,
                roles=["metadata"],
                title="Input drift report",
                description=tags["drift_summary"],
            ),
        )
    return item


def _cog_asset(name: str) -> pystac.Asset:
    return pystac.Asset(
        href=f"./{name}",
        media_type=pystac.MediaType.COG,
        roles=["data", "visual"],
        title="Colorized image",
        description=(
            "8-bit RGB; pixels outside the scene's data or the AOI are 0 and masked by "
            "the GeoTIFF's internal mask"
        ),
    )


def write_item(
    output: str,
    grid: Grid,
    tags: Mapping[str, str],
    source: S1Source,
    bands: Sequence[str],
    drift_report: str | None,
) -> str:
    """Write the Item of the COG ``output`` beside it in one step; its path.

    A scene that does not say when it was acquired (a raster with neither the tag nor a
    time in its name) gets an Item with an interval for its time (see
    :func:`colorized_item`), and a warning says so. See there for the arguments.
    """
    acquired: datetime | None
    try:
        acquired = source.info.start_time
    except GeocolorError as unknown:
        log.warning("the STAC Item of %s gives a time interval: %s", output, unknown)
        acquired = None
    item = colorized_item(output, grid, tags, acquired, bands, drift_report)
    path = item_path(output)
    write_json(item.to_dict(include_self_link=False, transform_hrefs=False), path)
    return path
