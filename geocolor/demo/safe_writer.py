"""Writing SAFE products (shared by the synthetic Sentinel-1 and Sentinel-2 generators).

A product is built in a hidden ``.partial`` folder beside its destination and moved
into place only when complete, as a folder or as an ESA-style zip, so an interrupted
run never leaves a product that looks finished.
"""

from __future__ import annotations

import shutil
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from pathlib import Path

from geocolor.errors import GeocolorError

# raster members are stored, not deflated: they are compressed already and stay
# seekable through GDAL's /vsizip
_RASTER_SUFFIXES = (".tiff", ".tif", ".jp2")


def publish_safe(
    out_dir: str | Path, product_id: str, write: Callable[[Path], None], *, zip: bool
) -> Path:
    """Call ``write(safe_folder)`` in a scratch folder, then move the result into place.

    Returns the path of ``<product_id>.SAFE`` or ``<product_id>.zip`` in ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / (f"{product_id}.zip" if zip else f"{product_id}.SAFE")
    if final.exists():
        raise GeocolorError(f"{final} already exists; remove it or write elsewhere.")
    work = Path(tempfile.mkdtemp(prefix=f".{product_id}.", suffix=".partial", dir=out))
    try:
        safe = work / f"{product_id}.SAFE"
        write(safe)
        if zip:
            archive = work / final.name
            zip_safe(safe, archive)
            archive.replace(final)
        else:
            safe.replace(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def zip_safe(safe: Path, archive: Path) -> None:
    """ESA-style zip: the SAFE folder as the single top-level entry."""
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"{safe.name}/", b"")
        for path in sorted(safe.rglob("*")):
            name = f"{safe.name}/{path.relative_to(safe).as_posix()}"
            if path.is_dir():
                bundle.writestr(f"{name}/", b"")
                continue
            raster = path.suffix in _RASTER_SUFFIXES
            method = zipfile.ZIP_STORED if raster else zipfile.ZIP_DEFLATED
            bundle.write(path, name, compress_type=method)


def child(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append element ``tag`` with optional text and attributes to ``parent``."""
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def xml_bytes(root: ET.Element, declaration: str = "") -> bytes:
    """Indented UTF-8 XML with its declaration (``declaration`` adds e.g. standalone)."""
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    extra = f" {declaration}" if declaration else ""
    return f'<?xml version="1.0" encoding="UTF-8"{extra}?>\n{body}\n'.encode()
