"""A corpus of crafted products, built in code on top of the synthetic SAFE writers.

Each case starts from a well-formed synthetic product (copied, never changed in
place) and alters one thing, the way an attacker who hands over a product would:
rasters that are really GDAL VRTs reading a local file or a URL, manifest hrefs that
leave the product, links out of it, zip-slip members, a measurement in another format,
a Sentinel-2 band that is a VRT. :data:`S1_CASES` and :data:`S2_CASES` map each case's
name to the function that builds it.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio

from geocolor.demo.safe_writer import zip_safe

SECRET_MARK = b"geocolor-hostile-secret:"
"""Bytes the secret file repeats: a crafted product must never pass them on."""


@dataclass(frozen=True)
class Targets:
    """What a crafted product aims at: a local ``secret`` file and a ``url`` GDAL must not fetch."""

    secret: Path
    url: str


def write_secret(path: Path, size: int) -> Path:
    """A stand-in for ``/etc/passwd``: ``size`` bytes of :data:`SECRET_MARK` repeated."""
    path.write_bytes((SECRET_MARK * (size // len(SECRET_MARK) + 1))[:size])
    return path


def copy_product(product: Path, folder: Path) -> Path:
    """A copy of the SAFE folder ``product`` in ``folder``, to alter."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(product, folder / product.name, symlinks=True))


def measurement(safe: Path, pol: str = "vv") -> Path:
    """The measurement raster of ``pol`` in a Sentinel-1 SAFE folder."""
    return next((safe / "measurement").glob(f"*-{pol}-*.tiff"))


def raw_band_vrt(width: int, height: int, source: str) -> bytes:
    """A UInt16 VRT whose pixels are the raw bytes of ``source``, any file at all."""
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f'<VRTRasterBand dataType="UInt16" band="1" subClass="VRTRawRasterBand">'
        f'<SourceFilename relativeToVRT="0">{source}</SourceFilename>'
        f"<ImageOffset>0</ImageOffset><PixelOffset>2</PixelOffset>"
        f"<LineOffset>{2 * width}</LineOffset><ByteOrder>LSB</ByteOrder>"
        f"</VRTRasterBand></VRTDataset>"
    ).encode()


def simple_source_vrt(width: int, height: int, data_type: str, source: str) -> bytes:
    """A VRT whose one band is band 1 of ``source`` (a path or ``/vsicurl/`` URL)."""
    return (
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">'
        f'<VRTRasterBand dataType="{data_type}" band="1"><SimpleSource>'
        f'<SourceFilename relativeToVRT="0">{source}</SourceFilename>'
        f"<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>"
    ).encode()


def _size(raster: Path) -> tuple[int, int]:
    with rasterio.open(raster) as src:
        return src.width, src.height


def vrt_reading_a_file(safe: Path, targets: Targets) -> Path:
    """The VV measurement "TIFF" is a VRT returning the secret file's bytes as DNs."""
    tiff = measurement(safe)
    tiff.write_bytes(raw_band_vrt(*_size(tiff), str(targets.secret)))
    return safe


def vrt_fetching_a_url(safe: Path, targets: Targets) -> Path:
    """The VV measurement "TIFF" is a VRT whose source is a ``/vsicurl/`` URL."""
    tiff = measurement(safe)
    tiff.write_bytes(simple_source_vrt(*_size(tiff), "UInt16", f"/vsicurl/{targets.url}"))
    return safe


def _point_href(safe: Path, href: str) -> None:
    manifest = safe / "manifest.safe"
    text = manifest.read_text()
    name = measurement(safe).name
    manifest.write_text(re.sub(rf'href="\./measurement/{re.escape(name)}"', f'href="{href}"', text))


def absolute_href(safe: Path, targets: Targets) -> Path:
    """manifest.safe names the VV measurement by an absolute path outside the product."""
    outside = targets.secret.with_name(f"outside-{measurement(safe).name}")
    shutil.copyfile(measurement(safe), outside)
    _point_href(safe, str(outside))
    return safe


def parent_href(safe: Path, targets: Targets) -> Path:
    """manifest.safe climbs out of the product with ``../`` to a real GeoTIFF."""
    name = measurement(safe).name
    shutil.copyfile(measurement(safe), safe.parent / name)
    _point_href(safe, f"../{name}")
    return safe


def link_out_of_the_product(safe: Path, targets: Targets) -> Path:
    """The VV measurement is a symbolic link to a GeoTIFF outside the product."""
    tiff = measurement(safe)
    outside = targets.secret.with_name(f"linked-{tiff.name}")
    shutil.move(tiff, outside)
    tiff.symlink_to(outside)
    return safe


def zip_slip(safe: Path, targets: Targets) -> Path:
    """A SAFE zip whose manifest names a member stored as ``NAME.SAFE/../../x.tiff``."""
    tiff = measurement(safe)
    escaped = f"../../{tiff.name}"
    _point_href(safe, escaped)
    moved = safe.parent / f"moved-{tiff.name}"
    shutil.move(tiff, moved)
    archive = safe.with_suffix(".zip")
    zip_safe(safe, archive)
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.write(moved, f"{safe.name}/{escaped}")
    shutil.rmtree(safe)
    return archive


def non_tiff_measurement(safe: Path, targets: Targets) -> Path:
    """The VV measurement is a PNG of the right size and type, named ``.tiff``."""
    tiff = measurement(safe)
    width, height = _size(tiff)
    png = tiff.with_suffix(".png")
    profile = {"driver": "PNG", "width": width, "height": height, "count": 1, "dtype": "uint16"}
    with rasterio.open(png, "w", **profile) as dst:
        dst.write(np.full((1, height, width), 100, dtype=np.uint16))
    png.replace(tiff)
    return safe


def _as_geotiff(band: Path, target: Path) -> tuple[int, int]:
    """Copy the raster ``band`` to a GeoTIFF at ``target``; its width and height."""
    with rasterio.open(band) as src:
        profile = {**src.profile, "driver": "GTiff"}
        pixels = src.read()
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(pixels)
    return profile["width"], profile["height"]


def s2_band_vrt(safe: Path, targets: Targets) -> Path:
    """The B04 band ``.jp2`` of an L2A SAFE is a VRT over a GeoTIFF outside the product."""
    band = next(safe.rglob("*_B04_10m.jp2"))
    outside = targets.secret.with_name("outside-B04.tif")
    band.write_bytes(simple_source_vrt(*_as_geotiff(band, outside), "UInt16", str(outside)))
    return safe


def s2_band_file_vrt(safe: Path, targets: Targets) -> Path:
    """A band-file folder (``B02.tif``, ``SCL.tif``...) whose ``B04.vrt`` reads outside it."""
    folder = safe.parent / "band-files"
    folder.mkdir()
    for band in safe.rglob("*.jp2"):
        name = band.stem.split("_")[-2]  # T32TNR_20210614T095200_B04_10m -> B04
        if name != "B04":
            _as_geotiff(band, folder / f"{name}.tif")
            continue
        outside = targets.secret.with_name("outside-B04.tif")
        vrt = simple_source_vrt(*_as_geotiff(band, outside), "UInt16", str(outside))
        (folder / "B04.vrt").write_bytes(vrt)
    shutil.rmtree(safe)
    return folder


Build = Callable[[Path, Targets], Path]

S1_CASES: dict[str, Build] = {
    "vrt-reading-a-file": vrt_reading_a_file,
    "vrt-fetching-a-url": vrt_fetching_a_url,
    "absolute-href": absolute_href,
    "parent-href": parent_href,
    "link-out-of-the-product": link_out_of_the_product,
    "zip-slip": zip_slip,
    "non-tiff-measurement": non_tiff_measurement,
}
S2_CASES: dict[str, Build] = {"s2-band-vrt": s2_band_vrt, "s2-band-file-vrt": s2_band_file_vrt}


def upload_zip(product: Path) -> Path:
    """``product`` as a user would upload it: a zip, symbolic links stored as links."""
    if product.suffix == ".zip":
        return product
    archive = product.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in sorted(product.rglob("*")):
            name = f"{product.name}/{path.relative_to(product).as_posix()}"
            if path.is_symlink():
                link = zipfile.ZipInfo(name)
                link.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(link, str(path.readlink()))
            elif path.is_file():
                bundle.write(path, name)
    return archive
