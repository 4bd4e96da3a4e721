"""Opening a product's files as a stranger may have crafted them.

A SAFE product, a band-file folder or a zip is untrusted input: its manifest and
metadata name its files, and GDAL would follow whatever a raster points to (a VRT's
sources, sidecar files, ``/vsicurl/`` URLs). So every product file is reached in two
steps that keep it inside the product:

- :func:`confine_href` joins a manifest or metadata href to the product's folder and
  refuses absolute paths, ``..`` escapes and symbolic links that leave the product;
- :func:`open_product_raster` opens a raster with an explicit driver allow-list (a
  measurement "TIFF" that is really a VRT is refused) under :func:`product_gdal_env`,
  where GDAL reads no sidecar file and, for a product on local disk, reaches no URL.

VRTs are opened only when geocolor wrote them itself (a STAC Item's COG assets, see
:mod:`geocolor.acquire.stac_vrt`), never because a file says it is one.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import fsspec
import rasterio
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader

from geocolor.errors import GeocolorError, root_reason
from geocolor.io.filesystems import is_remote

__all__ = [
    "GEOCOLOR_VRT_DRIVERS",
    "S1_MEASUREMENT_DRIVERS",
    "S2_BAND_DRIVERS",
    "confine_href",
    "open_product_raster",
    "product_gdal_env",
]

S1_MEASUREMENT_DRIVERS = ("GTiff",)
"""Sentinel-1 measurements and processed backscatter rasters: GeoTIFF (COG included)."""
S2_BAND_DRIVERS = ("JP2OpenJPEG", "GTiff")
"""Sentinel-2 band files: ESA's JPEG2000, or GeoTIFF/COG from download services."""
GEOCOLOR_VRT_DRIVERS = ("VRT", "GTiff")
"""Rasters geocolor wrote itself: VRTs over a STAC Item's remote COGs."""

# every GDAL filesystem that goes through libcurl checks this list first: an
# extension no file has makes them all refuse before any request is sent
_NO_NETWORK = ".geocolor-no-network"
_SIDECARS_OFF = {
    # sibling files (.ovr, .msk, .aux.xml, world files) are neither listed nor probed
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    # no .aux.xml is read or written beside a product's files
    "GDAL_PAM_ENABLED": "NO",
}
# products GDAL itself reads over the network (see geocolor.s2.archive)
_NETWORK_ROOTS = ("/vsis3/", "/vsiaz/")
_SUFFIX_DRIVERS = {".tif": "GTiff", ".tiff": "GTiff", ".jp2": "JP2OpenJPEG", ".vrt": "VRT"}


def confine_href(root: str, href: str, source: str, *, local: bool) -> str:
    """``href`` (relative to the product folder ``root``) joined to ``root``, kept inside it.

    Parameters
    ----------
    root
        The product folder (a local path, a path inside a zip, or an fsspec path).
    href
        A file location read from the product's manifest or metadata.
    source
        User-facing name of the file that gave ``href``, for the error message.
    local
        Whether ``root`` is a folder on this machine, whose symbolic links are resolved:
        a link pointing out of the product is refused like a ``..``.

    Raises
    ------
    GeocolorError
        When ``href`` is absolute, climbs out with ``..`` or resolves outside ``root``.
    """
    relative = posixpath.normpath(href.replace("\\", "/"))
    if (
        not href
        or posixpath.isabs(relative)
        or relative == ".."
        or relative.startswith("../")
        or "://" in href
    ):
        raise GeocolorError(f"{source}: file location {href!r} lies outside the product")
    joined = posixpath.join(root, relative) if root else relative
    if local:
        real_root = os.path.realpath(root)
        real = os.path.realpath(joined)
        if os.path.commonpath([real_root, real]) != real_root:
            raise GeocolorError(
                f"{source}: file location {href!r} leads outside the product (a link to {real})"
            )
    return joined


@contextmanager
def product_gdal_env(path: str, *, remote_sources: bool = False) -> Iterator[None]:
    """GDAL settings for reading ``path``, a product's file: no sidecars, no network.

    A product that GDAL itself fetches (``/vsis3/``, ``/vsiaz/``, possibly inside
    ``/vsizip/``) keeps its network access, as does a VRT geocolor wrote over remote
    COGs (``remote_sources``); the driver allow-list and confined hrefs still keep a
    product's reads to its own files.
    """
    settings = dict(_SIDECARS_OFF)
    if not remote_sources and not path.removeprefix("/vsizip/").startswith(_NETWORK_ROOTS):
        settings["CPL_VSIL_CURL_ALLOWED_EXTENSIONS"] = _NO_NETWORK
    with rasterio.Env(**settings):
        yield


@contextmanager
def open_product_raster(
    path: str, drivers: tuple[str, ...], *, opener: Any = None, describe: str | None = None
) -> Iterator[DatasetReader]:
    """The raster at ``path`` opened only by one of ``drivers``, under :func:`product_gdal_env`.

    The driver the file's suffix names is tried first; a file no allowed driver
    recognises (a VRT, an HDF5 or an HTML page named ``.tiff``) is refused.
    ``describe`` names the file in errors (default: ``path``). A URL fsspec reaches
    (``gs://``...) without an ``opener`` is read through fsspec, as
    :func:`geocolor.io.filesystems.open_raster` does: one thread at a time.

    Raises
    ------
    GeocolorError
        Naming the file and the formats it may have.
    """
    name = describe or path
    if opener is None and is_remote(path):
        fs, path = fsspec.core.url_to_fs(path)
        if not fs.isfile(path):
            raise GeocolorError(f"{name}: no such file")
        opener = fs
    suffix = posixpath.splitext(path)[1].lower()
    if suffix in _SUFFIX_DRIVERS and _SUFFIX_DRIVERS[suffix] not in drivers:
        raise GeocolorError(f"{name}: a {suffix} file is not allowed here ({_listed(drivers)})")
    ordered = sorted(drivers, key=lambda driver: driver != _SUFFIX_DRIVERS.get(suffix))
    # only geocolor's own VRTs are allowed the VRT driver, and their sources are URLs
    with product_gdal_env(path, remote_sources="VRT" in drivers):
        failures = []
        for driver in ordered:
            try:
                dataset = rasterio.open(path, driver=driver, opener=opener)
            except (RasterioError, OSError) as exc:
                failures.append(exc)
                continue
            with dataset:
                yield dataset
            return
    why = root_reason(failures[0])
    raise GeocolorError(f"{name}: cannot open raster as {_listed(drivers)} ({why})")


def _listed(drivers: tuple[str, ...]) -> str:
    return " or ".join(drivers)
