"""The STAC Collection of a prepared store: one Item per complete pair.

The catalogue lies beside the store, not in it: ``STORE.stac/collection.json`` and
``STORE.stac/items/PAIR.json``. Zarr takes every object inside a store for part of its
hierarchy and warns of any it cannot read as one, so JSON files among the arrays would
trouble every reader of the store. Hrefs are relative (``../STORE/pairs/PAIR/s1``),
so the store and its catalogue move together.

Everything is read back from the store (each pair's attributes and tile index), so the
catalogue can be rewritten at any time and always says what the store holds: a pair's
Item is written when the pair is complete, the Collection after it, and a run rewrites
the whole catalogue at its end, which also covers a run killed between the two.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pystac
import zarr
from affine import Affine
from pystac.extensions.raster import NoDataStrings
from rasterio.crs import CRS

from geocolor.geo.grid import Grid
from geocolor.io.stac import (
    ZARR,
    apply_processing,
    apply_projection,
    apply_raster_bands,
    derived_from,
    footprint,
    utc,
    with_prefix,
    write_json,
)
from geocolor.prepare.store import PAIRS, TILES, complete_pairs, group_array
from geocolor.prepare.tiling import Split

log = logging.getLogger("geocolor.prepare.catalog")

#: The catalogue's folder is the store's path with this suffix.
SUFFIX = ".stac"
COLLECTION = "collection.json"
ITEMS = "items"
#: The pair's arrays, each an asset: (key, title, role).
ARRAYS = (
    ("s1", "Sentinel-1 backscatter (dB) on the Sentinel-2 grid", "data"),
    ("s2", "Sentinel-2 reflectance", "data"),
    ("mask", "Sentinel-2 scene-classification mask (1: masked)", "data"),
    (TILES, "Tile index: origin, bounds, valid and cloud fractions, split", "metadata"),
)
#: The store's settings (root attributes) every pair shares, as Collection fields.
SETTINGS = ("format", "tile_size", "resolution", "s2_bands", "s1_polarisations")


def catalog_folder(store: str) -> str:
    """Where the catalogue of ``store`` (local path or URL) lies."""
    return store.rstrip("/") + SUFFIX


def write_catalog(store: str, root: zarr.Group, pairs: Iterable[str] | None = None) -> str | None:
    """Write the Items of ``pairs`` (every complete pair when None) and the Collection.

    The Collection lists every complete pair of the store; a pair prepared by a
    geocolor that did not record its acquisition times is left out, with a warning.

    Returns
    -------
    str or None
        The Collection's path; None, and nothing written, while no pair is complete.
    """
    items = {}
    for pair_id in complete_pairs(root):
        group = root[f"{PAIRS}/{pair_id}"]
        assert isinstance(group, zarr.Group)
        if "s1_start_time" not in group.attrs:
            log.warning("%s: no acquisition times recorded; prepare it anew for STAC", pair_id)
            continue
        items[pair_id] = pair_item(store, pair_id, group)
    if not items:
        return None
    folder = catalog_folder(store)
    for pair_id in items if pairs is None else set(pairs) & set(items):
        path = posixpath.join(folder, ITEMS, f"{pair_id}.json")
        write_json(items[pair_id].to_dict(include_self_link=False, transform_hrefs=False), path)
    collection = store_collection(store, root, list(items.values()))
    path = posixpath.join(folder, COLLECTION)
    write_json(collection.to_dict(include_self_link=False, transform_hrefs=False), path)
    return path


def store_name(store: str) -> str:
    """The store's folder name."""
    return posixpath.basename(store.rstrip("/"))


def collection_id(store: str) -> str:
    """The id of the store's Collection: its name without a ``.zarr`` ending."""
    return store_name(store).removesuffix(".zarr")


def pair_item(store: str, pair_id: str, group: zarr.Group) -> pystac.Item:
    """The Item of one complete pair, from its attributes and tile index."""
    attrs: dict[str, Any] = dict(group.attrs)
    grid = Grid(
        CRS.from_wkt(attrs["crs"]), Affine(*attrs["transform"]), attrs["width"], attrs["height"]
    )
    s1_time = utc(datetime.fromisoformat(attrs["s1_start_time"]))
    s2_sensed = attrs["s2_sensing_time"]
    s2_time = None if s2_sensed is None else utc(datetime.fromisoformat(s2_sensed))
    times = [s1_time] if s2_time is None else [s1_time, s2_time]
    geometry, bbox = footprint(grid)
    item = pystac.Item(
        id=pair_id,
        geometry=geometry,
        bbox=bbox,
        datetime=s2_time or s1_time,
        start_datetime=min(times),
        end_datetime=max(times),
        properties=with_prefix(
            {
                "s1_product": attrs["s1_product"],
                "s2_product": attrs["s2_product"],
                "s1_datetime": pystac.utils.datetime_to_str(s1_time),
                "s2_datetime": None if s2_time is None else pystac.utils.datetime_to_str(s2_time),
                "days_apart": attrs["days_apart"],
                "tiles": attrs["tiles_kept"],
                "splits": split_counts(group),
                "tiles_dropped": attrs["tiles_dropped"],
                "shift": attrs["shift"],
                "s1_bands": attrs["s1_bands"],
                "s2_bands": attrs["s2_bands"],
            }
        ),
    )
    apply_projection(item, grid)
    apply_processing(
        item,
        None,
        f"Sentinel-1 product {attrs['s1_product']} processed onto the "
        f"{grid.resolution[0]:g} m grid of Sentinel-2 product {attrs['s2_product']}, "
        f"co-registered and tiled by geocolor {attrs['geocolor_version']}",
    )
    item.collection_id = collection_id(store)
    item.add_link(pystac.Link(pystac.RelType.COLLECTION, f"../{COLLECTION}", pystac.MediaType.JSON))
    item.add_link(pystac.Link(pystac.RelType.PARENT, f"../{COLLECTION}", pystac.MediaType.JSON))
    item.add_link(pystac.Link(pystac.RelType.ROOT, f"../{COLLECTION}", pystac.MediaType.JSON))
    inputs = [
        (attrs[f"{sensor}_product"], attrs[f"{sensor}_input"])
        for sensor in ("s1", "s2")
        if attrs[f"{sensor}_input"]
    ]
    item.add_links(derived_from(inputs))
    bands = {"s1": attrs["s1_bands"], "s2": attrs["s2_bands"]}
    for key, title, role in ARRAYS:
        asset = _array_asset(store, pair_id, key, title, role)
        item.add_asset(key, asset)
        if key in bands:
            asset.description = f"Bands: {', '.join(bands[key])}"
        if role == "data":
            _describe_bands(asset, group_array(group, key), grid)
    return item


def split_counts(group: zarr.Group) -> dict[str, int]:
    """How many of the pair's kept tiles are in each split (``train``, ``val``, ``test``)."""
    splits = np.asarray(group_array(group, f"{TILES}/split")[:])
    return {split.name.lower(): int((splits == split).sum()) for split in Split}


def _array_asset(store: str, pair_id: str, key: str, title: str, role: str) -> pystac.Asset:
    href = f"../../{store_name(store)}/{PAIRS}/{pair_id}/{key}"
    return pystac.Asset(href=href, media_type=ZARR, roles=[role], title=title)


def _describe_bands(asset: pystac.Asset, array: Any, grid: Grid) -> None:
    dtype = np.dtype(array.dtype)
    nodata = NoDataStrings.NAN if dtype.kind == "f" else None
    apply_raster_bands(asset, dtype.name, array.shape[0], grid.resolution[0], nodata)


def store_collection(store: str, root: zarr.Group, items: list[pystac.Item]) -> pystac.Collection:
    """The store's Collection: extents over its pairs (one at least), the store as an
    asset, a link to each Item."""
    name = store_name(store)
    boxes = np.array([item.bbox for item in items])
    bbox = [*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)]
    starts = [item.common_metadata.start_datetime for item in items]
    ends = [item.common_metadata.end_datetime for item in items]
    interval = [min(t for t in starts if t), max(t for t in ends if t)]
    collection = pystac.Collection(
        id=collection_id(store),
        title=f"geocolor training store {name}",
        description=(
            "Co-registered Sentinel-1/Sentinel-2 pairs tiled for training geocolor's "
            "models (contains modified Copernicus Sentinel data)."
        ),
        extent=pystac.Extent(
            pystac.SpatialExtent([[float(value) for value in bbox]]),
            pystac.TemporalExtent([interval]),
        ),
        license="other",
        extra_fields=with_prefix(
            {key: root.attrs.get(key) for key in SETTINGS} | {"pairs": len(items)}
        ),
    )
    collection.add_link(pystac.Link(pystac.RelType.ROOT, f"./{COLLECTION}", pystac.MediaType.JSON))
    for item in items:
        collection.add_link(
            pystac.Link(
                pystac.RelType.ITEM,
                f"./{ITEMS}/{item.id}.json",
                pystac.MediaType.GEOJSON,
                title=item.id,
            )
        )
    collection.add_asset(
        "store",
        pystac.Asset(href=f"../{name}", media_type=ZARR, roles=["data"], title="Zarr store"),
    )
    return collection
