"""A SAFE folder rebuilt from a GRD item's separate assets (Planetary Computer, Earth Search).

Those catalogues publish a Sentinel-1 GRD product file by file: its ``manifest.safe``,
and per polarisation the annotation, calibration and noise XML and the measurement
(a COG of the original digital numbers, in radar geometry). The manifest says where
each file lies in the product; the assets are downloaded there, so the result is a
``NAME.SAFE`` folder the SAFE reader opens like ESA's own. Each file is downloaded
resumably (:mod:`geocolor.acquire.download`) into a ``NAME.SAFE.partial`` folder, which
is renamed only once every file is there: a rerun picks up where the last run stopped,
and a ``NAME.SAFE`` folder is always whole.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import urlparse

from geocolor.acquire.asset_download import download_asset
from geocolor.acquire.stac_assets import SafeParts
from geocolor.errors import GeocolorError
from geocolor.io.xml import parse_xml
from geocolor.s1.safe import manifest_files

MANIFEST = "manifest.safe"


def rebuild_safe(
    parts: SafeParts,
    item_id: str,
    folder: Path,
    *,
    attempts: int,
    retry_sleep: float,
) -> Path:
    """``folder/NAME.SAFE`` from ``parts``, unless it is already there; its path.

    ``NAME`` is the product's name, which the reader takes as its id: the folder the
    manifest lies in where that extends the item's id (Earth Search's ids leave out the
    product's unique suffix), else the item's id.
    """
    name = _product_name(parts.manifest, item_id.removesuffix(".SAFE"))
    target = folder / f"{name}.SAFE"
    if target.exists():
        return target
    staging = folder / f"{name}.SAFE.partial"

    def fetch(href: str, inner: str) -> Path:
        return download_asset(
            href,
            staging / inner,
            needs_login=False,
            checksum=None,
            attempts=attempts,
            retry_sleep=retry_sleep,
            label=f"{name}/{inner}",
        )

    manifest = fetch(parts.manifest, MANIFEST)
    source = f"STAC item {item_id}: {MANIFEST}"
    listed = manifest_files(parse_xml(manifest.read_bytes(), source), source)
    missing = sorted(f"{kind} {pol}" for kind, pol in listed if (kind, pol) not in parts.files)
    if missing:
        raise GeocolorError(
            f"STAC item {item_id}: the manifest lists files the item has no asset for "
            f"({', '.join(missing)})"
        )
    for key, inner in sorted(listed.items()):
        relative = posixpath.normpath(inner)
        if posixpath.isabs(relative) or relative.startswith(".."):
            raise GeocolorError(f"{source}: file location {inner!r} is outside the product")
        fetch(parts.files[key], relative)
    staging.replace(target)
    return target


def _product_name(manifest: str, item_id: str) -> str:
    folder = posixpath.basename(posixpath.dirname(urlparse(manifest).path))
    name = folder.removesuffix(".SAFE")
    return name if name.startswith(item_id) else item_id
