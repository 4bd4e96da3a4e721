"""Scenes from a STAC Item: a JSON file or URL standing for the product it describes.

``prepare`` and ``colorize`` accept an Item wherever they accept a product path. Its
assets are resolved into something the readers open:

- a SAFE zip asset is downloaded (resumably, checksummed; see
  :mod:`geocolor.acquire.download`) into ``$XDG_CACHE_HOME/geocolor/stac``, and a GRD
  product published file by file (Planetary Computer, Earth Search) is rebuilt there
  as a SAFE folder (:mod:`geocolor.acquire.stac_safe`);
- remote COG assets are read in place through GDAL VRTs written there: one VRT of the
  Sentinel-1 polarisations (described like ``"VV gamma0-rtc linear"``, with the Item's id
  and time in the tags), or a folder of Sentinel-2 band VRTs carrying the Item's
  scaling as ``BOA_ADD_OFFSET``/``BOA_QUANTIFICATION_VALUE``.

Planetary Computer asset URLs are signed with the ``planetary-computer`` package first.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import fsspec

from geocolor.acquire.cdse_auth import download_session
from geocolor.acquire.download import download
from geocolor.acquire.s3_access import is_s3
from geocolor.acquire.stac_assets import (
    item_mission,
    s1_measure,
    s1_polarisation_assets,
    s2_band_assets,
    safe_asset,
    safe_parts,
)
from geocolor.acquire.stac_catalog import item_time
from geocolor.acquire.stac_safe import rebuild_safe
from geocolor.acquire.stac_vrt import RemoteBand, write_vrt
from geocolor.errors import GeocolorError, UsageError
from geocolor.s2.product import S2Product, open_s2

_DOWNLOAD_ATTEMPTS = 4
_RETRY_SLEEP = 2.0


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/geocolor/stac`` (``~/.cache`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "geocolor" / "stac"


def is_stac_item(path: str) -> bool:
    """Whether ``path`` holds a STAC Item; never raises.

    Only ``.json`` files and URLs, and http(s) URLs of a STAC API's ``/items/``, are read.
    """
    plain = path.split("?")[0]
    api_item = plain.startswith(("http://", "https://")) and "/items/" in plain
    if not (plain.lower().endswith(".json") or api_item):
        return False
    try:
        item = load_item(path)
    except GeocolorError:
        return False
    return item.get("type") == "Feature" and "stac_version" in item


def load_item(path: str) -> dict[str, Any]:
    """The Item at ``path`` (local, http(s) or any fsspec URL), assets signed if on Azure."""
    try:
        with fsspec.open(path, "r", encoding="utf-8") as handle:
            item = json.load(handle)
    except (OSError, ValueError) as exc:
        raise GeocolorError(f"{path}: cannot read the STAC Item ({type(exc).__name__})") from None
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise GeocolorError(f"{path}: not a STAC Item (no type Feature)")
    return _signed(item)


def resolve_s1_item(path: str, cache: Path | None = None) -> str:
    """A path ``open_s1`` opens for the Sentinel-1 Item at ``path``."""
    item = _item_of(path, "S1")
    folder = (cache or default_cache_dir()) / item["id"]
    polarised = s1_polarisation_assets(item)
    if polarised:
        measure = s1_measure(item)
        bands = [RemoteBand(href, f"{pol} {measure} linear") for pol, href in polarised.items()]
        tags = {"input_products": item["id"], "acquisition_times": item_time(item).isoformat()}
        return str(write_vrt(folder / f"{item['id']}.vrt", bands, tags, georeferenced=True))
    parts = safe_parts(item)
    if parts is not None and safe_asset(item) is None:
        rebuilt = rebuild_safe(
            parts, item["id"], folder, attempts=_DOWNLOAD_ATTEMPTS, retry_sleep=_RETRY_SLEEP
        )
        return str(rebuilt)
    return _downloaded_safe(item, path, folder)


def resolve_s2_item(path: str, cache: Path | None = None) -> str:
    """A path ``open_s2`` opens for the Sentinel-2 L2A Item at ``path``."""
    item = _item_of(path, "S2")
    folder = (cache or default_cache_dir()) / item["id"]
    bands = s2_band_assets(item)
    if bands and not any(is_s3(asset.href) for asset in bands.values()):
        stem = f"{_tile(item)}{item_time(item):%Y%m%dT%H%M%S}"
        for band, asset in bands.items():
            scaling = {
                "BOA_ADD_OFFSET": f"{asset.offset:g}",
                "BOA_QUANTIFICATION_VALUE": f"{asset.quantification:g}",
            }
            write_vrt(
                folder / f"{stem}_{band}.vrt",
                [RemoteBand(asset.href, band)],
                scaling,
                georeferenced=True,
            )
        return str(folder)
    return _downloaded_safe(item, path, folder)


def open_s2_input(path: str) -> S2Product:
    """``open_s2`` that also takes a STAC Item, as ``prepare``'s ``--s2`` does."""
    if is_stac_item(path):
        # band VRTs geocolor has just written over the Item's COGs
        return open_s2(resolve_s2_item(path), geocolor_vrts=True)
    return open_s2(path)


def _item_of(path: str, mission: str) -> dict[str, Any]:
    item = load_item(path)
    found = item_mission(item)
    if found != mission:
        raise UsageError(f"{path}: a {found} STAC Item where a {mission} scene is expected")
    return item


def _downloaded_safe(item: dict[str, Any], path: str, folder: Path) -> str:
    asset = safe_asset(item)
    if asset is None:
        raise GeocolorError(
            f"{path}: the Item has neither a SAFE zip asset nor georeferenced COG assets "
            f"(assets: {', '.join(sorted(item.get('assets', {}))) or 'none'})"
        )
    target = folder / f"{item['id'].removesuffix('.SAFE')}.zip"
    downloaded = download(
        download_session(asset.needs_login),
        asset.href,
        target,
        checksum=asset.checksum,
        attempts=_DOWNLOAD_ATTEMPTS,
        retry_sleep=_RETRY_SLEEP,
        label=item["id"],
    )
    return str(downloaded)


def _tile(item: dict[str, Any]) -> str:
    """``T33TWL_`` from ``s2:mgrs_tile`` or ``grid:code`` (``MGRS-33TWL``), else nothing."""
    properties = item["properties"]
    code = properties.get("s2:mgrs_tile") or str(properties.get("grid:code", "")).removeprefix(
        "MGRS-"
    )
    return f"T{code}_" if code else ""


def _signed(item: dict[str, Any]) -> dict[str, Any]:
    """The Item with Planetary Computer (Azure Blob) asset URLs signed; others unchanged."""
    hrefs = [str(asset.get("href", "")) for asset in item.get("assets", {}).values()]
    if not any(".blob.core.windows.net" in href for href in hrefs):
        return item
    import planetary_computer
    import requests

    try:
        signed: dict[str, Any] = planetary_computer.sign(item)
    except requests.RequestException as exc:
        raise GeocolorError(
            f"STAC item {item.get('id')}: cannot get a Planetary Computer SAS token "
            f"({type(exc).__name__})"
        ) from None
    return signed
