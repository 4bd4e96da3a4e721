"""Damaged copies of a small synthetic Sentinel-1 product, for the input-validation tests.

Each helper copies a pristine SAFE (from :func:`geocolor.demo.s1.write_synthetic_s1`) and
changes one thing the way a bad download, a broken disk or a careless edit would.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import rasterio

from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1

LAYOUT = SceneLayout(lines=200, samples=300)
TILE = 64


def pristine(folder: Path) -> Path:
    """A single-polarisation (VV) SAFE with DEFLATE tiles of ``TILE`` pixels."""
    return write_synthetic_s1(folder, layout=LAYOUT, seed=1, tile=TILE, polarisations=("VV",))


def copy_of(safe: Path, folder: Path) -> Path:
    """A copy of ``safe`` inside ``folder``, under the same name."""
    target = folder / safe.name
    shutil.copytree(safe, target)
    return target


def member(safe: Path, pattern: str) -> Path:
    """The one file of ``safe`` matching the glob ``pattern``."""
    (path,) = safe.glob(pattern)
    return path


def replace_first_value(xml: Path, tag: str, value: str) -> None:
    """Put ``value`` in place of the first number of the first ``<tag>`` element."""
    text = xml.read_text()
    changed, count = re.subn(rf"(<{tag}[ >][^<]*?>\s*)[^\s<]+", rf"\g<1>{value}", text, count=1)
    assert count == 1, f"no <{tag}> in {xml}"
    xml.write_text(changed)


def replace_element_text(xml: Path, tag: str, text: str) -> None:
    """Replace the whole text of the first ``<tag>`` element (``""`` empties it)."""
    content = xml.read_text()
    changed, count = re.subn(
        rf"(<{tag}(?: [^>]*)?>)[^<]*(</{tag}>)", rf"\g<1>{text}\g<2>", content, count=1
    )
    assert count == 1, f"no <{tag}> in {xml}"
    xml.write_text(changed)


def measurement(safe: Path) -> Path:
    """The measurement raster of a single-polarisation SAFE."""
    return member(safe, "measurement/*.tiff")


def zero_block_tail(tiff: Path, row: int, col: int, length: int = 100) -> None:
    """Zero the last ``length`` bytes of one DEFLATE block: GDAL still reads it silently."""
    with rasterio.open(tiff) as dataset:
        offset, size = (
            int(dataset.get_tag_item(f"BLOCK_{key}_{col}_{row}", "TIFF", bidx=1))
            for key in ("OFFSET", "SIZE")
        )
    with tiff.open("r+b") as stream:
        stream.seek(offset + size - length)
        stream.write(bytes(length))


def truncate(path: Path, fraction: float = 0.5) -> None:
    """Cut ``path`` to ``fraction`` of its length, as an interrupted copy leaves it."""
    with path.open("r+b") as stream:
        stream.truncate(int(path.stat().st_size * fraction))
