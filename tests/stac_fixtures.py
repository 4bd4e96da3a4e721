"""Collections, items and assets of the three STAC presets, written in code for tests.

Each catalogue is built as the real one publishes it (collection ids, asset keys,
extension fields), with tiny assets: band and backscatter COGs on a 2 x 3 km patch of
UTM zone 33N around the AOI, and synthetic SAFE zips from :mod:`geocolor.demo`.

- Earth Search v1: ``sentinel-2-l2a`` items with colour-named COG assets (``blue``,
  ``red``, ``nir``, ``scl`` …), ``*-jp2`` twins, ``raster:bands`` scale 0.0001 and
  offset -0.1 (baseline 05.09), ``mgrs:*``/``grid:code``.
- Planetary Computer: ``sentinel-2-l2a`` (``B02`` … ``SCL`` COGs, ``safe-manifest``,
  ``s2:*``) and ``sentinel-1-rtc`` (``vv``/``vh`` terrain-flattened gamma0 COGs,
  ``sar:*``, ``sat:*``), stored on the Azure Blob hosts whose URLs must be signed.
- Sentinel-1 GRD of Planetary Computer and Earth Search (:func:`grd_item`): a product
  file by file, ``safe-manifest``, ``schema-product-vv``, ``schema-calibration-vv``,
  ``schema-noise-vv`` and the ``vv`` measurement (likewise ``vh``) under the files' names
  in those catalogues (``annotation/iw-vv.xml``, ``measurement/iw-vv.tiff`` …): on
  Azure Blob (``sentinel1euwest/s1-grd``, signed) or in the requester-pays S3 bucket
  ``sentinel-s1-l1c`` (Earth Search, ``s3://`` hrefs and no https alternate).
- Copernicus Data Space: ``sentinel-1-grd`` and ``sentinel-2-l2a`` items whose
  ``PRODUCT`` asset is the SAFE zip behind an OData ``$value`` URL, with a sha3-256
  ``file:checksum`` multihash, ``auth:refs`` and an S3 ``alternate``; the Sentinel-2
  band assets (``B02_10m`` … ``SCL_20m``) are the zip's JPEG 2000 files in the
  ``s3://eodata`` bucket (``auth:refs`` s3, an OData ``Nodes`` https alternate), and
  ``processing:version`` gives the baseline.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.io import MemoryFile
from shapely.geometry import box, mapping
from shapely.geometry.base import BaseGeometry

from geocolor.geo.grid import LONLAT, reproject_geometry
from geocolor.s1.source import open_s1
from geocolor.s2.product import open_s2
from tests.stac_server import FakeStac

# a 0.01 x 0.01 degree AOI in UTM zone 33N: 79 x 112 pixels at 10 m
AOI = "15.0,45.0,15.01,45.01"
DATES = ["--start", "2022-10-01", "--end", "2022-10-10"]
UTM = "EPSG:32633"
# the assets' patch: 200 x 300 pixels at 10 m, over the AOI
ORIGIN = (499_000.0, 4_985_500.0)
SHAPE = (300, 200)
S2_TIME = "2022-10-05T10:00:31Z"
S1_TIME = "2022-10-04T16:50:00Z"
PC_S2_ID = "S2B_MSIL2A_20221005T100031_R122_T33TWL_20221005T175839"
PC_S1_ID = "S1A_IW_GRDH_1SDV_20221004T165000_20221004T165025_045312_056AE1_rtc"
ES_S2_ID = "S2B_33TWL_20221005_0_L2A"
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "proj": "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "sat": "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "sar": "https://stac-extensions.github.io/sar/v1.0.0/schema.json",
    "view": "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "file": "https://stac-extensions.github.io/file/v2.1.0/schema.json",
    "mgrs": "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "grid": "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "s2": "https://stac-extensions.github.io/sentinel-2/v1.0.0/schema.json",
    "alternate": "https://stac-extensions.github.io/alternate-assets/v1.1.0/schema.json",
    "auth": "https://stac-extensions.github.io/authentication/v1.1.0/schema.json",
}
COG = "image/tiff; application=geotiff; profile=cloud-optimized"
# Earth Search v1 asset keys of the bands the fetch asks for
ES_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B08": "nir", "SCL": "scl"}


def patch_footprint() -> BaseGeometry:
    """Lon/lat outline of the assets' patch."""
    left, top = ORIGIN
    outline = box(left, top - 10.0 * SHAPE[0], left + 10.0 * SHAPE[1], top)
    return reproject_geometry(outline, UTM, LONLAT)


def band_dn(band: str) -> np.ndarray:
    """Stored digital numbers of a band: offset by +1000 as from baseline 04.00."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    if band == "SCL":
        return np.where((rows + cols) % 7 == 0, 9, 4).astype(np.uint8)
    salt = int(band[1:]) if band[1:].isdigit() else 9
    return (1000 + 500 + (cols + 3 * rows + 37 * salt) % 900).astype(np.uint16)


def backscatter_linear(pol: str) -> np.ndarray:
    """Terrain-flattened gamma0 (``gamma0-rtc``) in linear power, VH weaker than VV."""
    rows, cols = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
    level = 0.05 if pol == "VV" else 0.01
    return (level * (1.0 + 0.5 * np.sin(rows / 17.0) * np.cos(cols / 11.0))).astype(np.float32)


def cog_bytes(image: np.ndarray, nodata: float) -> bytes:
    """A tiled GeoTIFF of ``image`` on the patch."""
    profile = {
        "driver": "GTiff",
        "width": SHAPE[1],
        "height": SHAPE[0],
        "count": 1,
        "dtype": image.dtype.name,
        "crs": UTM,
        "transform": Affine(10.0, 0, ORIGIN[0], 0, -10.0, ORIGIN[1]),
        "nodata": nodata,
        "tiled": True,
        "blockxsize": 64,
        "blockysize": 64,
        "compress": "deflate",
    }
    with MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(image, 1)
        return bytes(memory.read())


def earth_search(state: FakeStac) -> None:
    """Earth Search v1: one Sentinel-2 L2A item of colour-named COGs."""
    state.collections = ["sentinel-2-l2a", "sentinel-1-grd"]
    assets = {}
    for band, key in ES_KEYS.items():
        name = f"sentinel-cogs/33/T/WL/2022/10/{ES_S2_ID}/{band}.tif"
        state.assets[name] = cog_bytes(band_dn(band), 0)
        scaling = {} if band == "SCL" else {"scale": 0.0001, "offset": -0.1}
        assets[key] = {
            "href": state.asset_url(name),
            "type": COG,
            "roles": ["data"] if band == "SCL" else ["data", "reflectance"],
            "raster:bands": [
                {"nodata": 0, "data_type": "uint8" if band == "SCL" else "uint16"} | scaling
            ],
        }
        assets[f"{key}-jp2"] = {
            "href": f"s3://sentinel-s2-l2a/tiles/33/T/WL/2022/10/5/0/{band}.jp2",
            "type": "image/jp2",
            "roles": ["data"],
        }
    properties = {
        "datetime": S2_TIME,
        "platform": "sentinel-2b",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": 12.5,
        "proj:epsg": 32633,
        "mgrs:utm_zone": 33,
        "mgrs:latitude_band": "T",
        "mgrs:grid_square": "WL",
        "grid:code": "MGRS-33TWL",
        "view:sun_elevation": 38.2,
        "s2:processing_baseline": "05.09",
        "s2:product_type": "S2MSI2A",
        "earthsearch:boa_offset_applied": False,
    }
    state.items = [
        _item(ES_S2_ID, "sentinel-2-l2a", properties, assets, ("eo", "raster", "proj", "mgrs"))
    ]


def planetary_computer(state: FakeStac) -> None:
    """Planetary Computer: a Sentinel-2 L2A item and a Sentinel-1 RTC item on Azure Blob."""
    state.collections = ["sentinel-2-l2a", "sentinel-1-rtc", "sentinel-1-grd"]
    s2_assets: dict[str, Any] = {}
    granule = f"sentinel2-l2/33/T/WL/2022/10/05/{PC_S2_ID}.SAFE/GRANULE/L2A_T33TWL/IMG_DATA"
    for band in ("B02", "B03", "B04", "B08", "SCL"):
        resolution = "R20m" if band == "SCL" else "R10m"
        path = f"{granule}/{resolution}/T33TWL_20221005T100031_{band}_{resolution[1:]}.tif"
        state.assets[f"sentinel2l2a01/{path}"] = cog_bytes(band_dn(band), 0)
        s2_assets[band] = {
            "href": f"http://sentinel2l2a01.blob.core.windows.net/{path}",
            "type": COG,
            "roles": ["data"],
            "gsd": 20.0 if band == "SCL" else 10.0,
            "eo:bands": [{"name": band}],
        }
    s2_assets["safe-manifest"] = {
        "href": f"http://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/{PC_S2_ID}.SAFE/manifest.safe",
        "type": "application/xml",
        "roles": ["metadata"],
    }
    s2_properties = {
        "datetime": S2_TIME,
        "platform": "Sentinel-2B",
        "constellation": "Sentinel 2",
        "instruments": ["msi"],
        "eo:cloud_cover": 12.5,
        "proj:epsg": 32633,
        "s2:mgrs_tile": "33TWL",
        "s2:processing_baseline": "05.09",
        "s2:product_type": "S2MSI2A",
        "sat:orbit_state": "descending",
        "sat:relative_orbit": 122,
    }
    s1_assets: dict[str, Any] = {}
    for pol in ("VV", "VH"):
        path = f"s1-rtc/2022/10/4/IW/DV/{PC_S1_ID}/measurement/iw-{pol.lower()}.rtc.tiff"
        state.assets[f"sentinel1euwest/{path}"] = cog_bytes(backscatter_linear(pol), float("nan"))
        s1_assets[pol.lower()] = {
            "href": f"http://sentinel1euwest.blob.core.windows.net/{path}",
            "type": COG,
            "roles": ["data"],
            "raster:bands": [{"nodata": "nan", "data_type": "float32"}],
        }
    s1_properties = {
        "datetime": S1_TIME,
        "platform": "SENTINEL-1A",
        "constellation": "Sentinel-1",
        "sar:instrument_mode": "IW",
        "sar:polarizations": ["VV", "VH"],
        "sar:product_type": "GRD",
        "sar:frequency_band": "C",
        "sat:orbit_state": "ascending",
        "sat:relative_orbit": 117,
        "proj:epsg": 32633,
    }
    state.items = [
        _item(PC_S2_ID, "sentinel-2-l2a", s2_properties, s2_assets, ("eo", "proj", "sat")),
        _item(PC_S1_ID, "sentinel-1-rtc", s1_properties, s1_assets, ("sar", "sat", "proj")),
    ]


def cdse(state: FakeStac, s1_zip: Path, s2_zip: Path) -> None:
    """Copernicus Data Space: SAFE zips behind OData, checksummed, login needed."""
    state.collections = ["sentinel-1-grd", "sentinel-2-l2a"]
    s1, s2 = open_s1(str(s1_zip)), open_s2(str(s2_zip))
    items = []
    for zip_path, collection, when, footprint, properties in (
        (
            s1_zip,
            "sentinel-1-grd",
            s1.info.start_time,
            s1.footprint(),
            {
                "platform": "sentinel-1a",
                "constellation": "sentinel-1",
                "sar:instrument_mode": "IW",
                "sar:polarizations": ["VV", "VH"],
                "sat:orbit_state": "descending",
                "product:type": "IW_GRDH_1S",
            },
        ),
        (
            s2_zip,
            "sentinel-2-l2a",
            s2.info.sensing_time,
            s2.footprint(),
            {
                "platform": "sentinel-2a",
                "constellation": "sentinel-2",
                "eo:cloud_cover": 10.0,
                "grid:code": "MGRS-32TNR",
                "processing:version": "04.00",
                "product:type": "S2MSI2A",
            },
        ),
    ):
        assert isinstance(when, datetime)
        product_id = zip_path.name.removesuffix(".zip").removesuffix(".SAFE")
        name = f"odata/v1/Products({hashlib.md5(product_id.encode()).hexdigest()})/$value"
        content = zip_path.read_bytes()
        state.assets[name] = content
        state.protected.add(name)
        assets = {
            "PRODUCT": {
                "href": state.asset_url(name),
                "type": "application/zip",
                "roles": ["data", "metadata", "archive"],
                "file:size": len(content),
                "file:checksum": "1620" + hashlib.sha3_256(content).hexdigest(),
                "auth:refs": ["oidc"],
                "alternate": {
                    "s3": {"href": f"s3://eodata/Sentinel/{product_id}.SAFE", "auth:refs": ["s3"]}
                },
            },
        }
        if collection == "sentinel-2-l2a":
            assets |= cdse_band_assets(state, zip_path, name)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        items.append(
            _item(
                product_id,
                collection,
                {"datetime": stamp, **properties},
                assets,
                ("file", "alternate", "auth"),
                footprint,
            )
        )
    state.items = items


# the catalogues' names of a GRD product's files, by the SAFE reader's kinds
GRD_FILES = {
    "annotation": ("schema-product-{pol}", "annotation/iw-{pol}.xml", "application/xml"),
    "calibration": (
        "schema-calibration-{pol}",
        "annotation/calibration/calibration-iw-{pol}.xml",
        "application/xml",
    ),
    "noise": ("schema-noise-{pol}", "annotation/calibration/noise-iw-{pol}.xml", "application/xml"),
    "measurement": ("{pol}", "measurement/iw-{pol}.tiff", COG),
}


def grd_item(state: FakeStac, safe: Path, catalogue: str) -> dict[str, Any]:
    """The GRD item of the SAFE folder ``safe`` as ``planetary-computer`` or ``earth-search``
    publishes it, its files served by ``state`` (Azure Blob, or the fake S3 endpoint)."""
    from geocolor.io.xml import parse_xml
    from geocolor.s1.safe import manifest_files

    scene = open_s1(str(safe))
    start = scene.info.start_time
    product_id = safe.name.removesuffix(".SAFE")
    folder = f"GRD/{start.year}/{start.month}/{start.day}/IW/DV/{product_id}"
    if catalogue == "planetary-computer":
        item_id, account, root = product_id, "sentinel1euwest", f"s1-grd/{folder}"

        def href(name: str) -> str:
            return f"http://{account}.blob.core.windows.net/{root}/{name}"

        def store(name: str, content: bytes) -> None:
            state.assets[f"{account}/{root}/{name}"] = content
    else:
        # Earth Search drops the product's unique id from the item's
        item_id = product_id.rsplit("_", 1)[0]

        def href(name: str) -> str:
            return f"s3://sentinel-s1-l1c/{folder}/{name}"

        def store(name: str, content: bytes) -> None:
            state.assets[f"s3/sentinel-s1-l1c/{folder}/{name}"] = content

    manifest = (safe / "manifest.safe").read_bytes()
    store("manifest.safe", manifest)
    assets: dict[str, Any] = {
        "safe-manifest": {
            "href": href("manifest.safe"),
            "type": "application/xml",
            "roles": ["metadata"],
        }
    }
    listed = manifest_files(parse_xml(manifest, "manifest"), "manifest")
    for (kind, pol), inner in listed.items():
        key, name, media = (text.format(pol=pol.lower()) for text in GRD_FILES[kind])
        store(name, (safe / inner).read_bytes())
        assets[key] = {
            "href": href(name),
            "type": media,
            "roles": ["data" if kind == "measurement" else "metadata"],
        }
    properties = {
        "datetime": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": "SENTINEL-1A",
        "constellation": "Sentinel-1",
        "sar:instrument_mode": "IW",
        "sar:polarizations": ["VV", "VH"],
        "sar:product_type": "GRD",
        "sar:frequency_band": "C",
        "sat:orbit_state": "descending",
    }
    return _item(item_id, "sentinel-1-grd", properties, assets, ("sar", "sat"), scene.footprint())


CDSE_BANDS = ("B02_10m", "B03_10m", "B04_10m", "B08_10m", "SCL_20m")


def cdse_band_assets(state: FakeStac, s2_zip: Path, odata: str) -> dict[str, Any]:
    """The Sentinel-2 zip's band files as CDSE publishes them: JPEG 2000 in ``s3://eodata``."""
    import zipfile

    assets = {}
    with zipfile.ZipFile(s2_zip) as archive:
        for member in archive.namelist():
            key = next((key for key in CDSE_BANDS if member.endswith(f"_{key}.jp2")), None)
            if key is None:
                continue
            path = f"Sentinel-2/MSI/L2A/2021/06/14/{member}"
            state.assets[f"s3/eodata/{path}"] = archive.read(member)
            nodes = "/".join(f"Nodes({part})" for part in member.split("/"))
            assets[key] = {
                "href": f"s3://eodata/{path}",
                "type": "image/jp2",
                "roles": ["data"] if key.startswith("SCL") else ["data", "reflectance"],
                "auth:refs": ["s3"],
                "alternate": {
                    "https": {
                        "href": state.asset_url(odata.replace("$value", f"{nodes}/$value")),
                        "auth:refs": ["oidc"],
                    }
                },
            }
    return assets


def _item(
    item_id: str,
    collection: str,
    properties: dict[str, Any],
    assets: dict[str, Any],
    extensions: tuple[str, ...],
    footprint: BaseGeometry | None = None,
) -> dict[str, Any]:
    outline = footprint if footprint is not None else patch_footprint()
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [EXTENSIONS[name] for name in extensions],
        "id": item_id,
        "collection": collection,
        "geometry": mapping(outline),
        "bbox": list(outline.bounds),
        "properties": properties,
        "links": [],
        "assets": assets,
    }
