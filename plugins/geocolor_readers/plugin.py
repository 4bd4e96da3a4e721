"""Registers the built-in scene readers; their code is geocolor's public API in ``geocolor.s1``.

The SAFE reader comes first: :func:`geocolor.s1.source.open_s1` asks readers in
registration order, and GDAL would also open a SAFE folder as an (ungeoreferenced) raster.

Every command listing loads the plugins, so the readers are light: each method imports
its reading code (rasterio, Dask, and numba through the SAFE calibration) when first
called, as the backends import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geocolor.plugins import Registry, hookimpl

if TYPE_CHECKING:
    from geocolor.s1.band_files import BandFiles
    from geocolor.s1.raster import BackscatterRaster
    from geocolor.s1.safe_source import SafeSource
    from geocolor.s1.source import S1Reader


class SafeReader:
    """Sentinel-1 GRD products: a ``.SAFE`` folder or its zip."""

    name = "grd-safe"

    def can_open(self, path: str) -> bool:
        """Whether ``path`` is named like a SAFE and holds a ``manifest.safe``."""
        from geocolor.s1.safe import is_safe

        return is_safe(path)

    def open(self, path: str) -> SafeSource:
        """The product at ``path``, its metadata parsed (no pixels read)."""
        from geocolor.s1.safe import open_safe
        from geocolor.s1.safe_source import SafeSource

        return SafeSource(open_safe(path))


class BackscatterRasterReader:
    """Processed backscatter rasters: georeferenced GeoTIFFs and COGs (no other format)."""

    name = "backscatter-raster"

    def can_open(self, path: str) -> bool:
        """See :func:`geocolor.s1.raster.is_backscatter_raster`."""
        from geocolor.s1.raster import is_backscatter_raster

        return is_backscatter_raster(path)

    def open(self, path: str) -> BackscatterRaster:
        """See :func:`geocolor.s1.raster.open_backscatter_raster`."""
        from geocolor.s1.raster import open_backscatter_raster

        return open_backscatter_raster(path)


class BandFilesReader:
    """A folder of single-band rasters named by polarisation (``<name>_VV.tif``...).

    A public dataset's patch folder (BigEarthNet's S1 patches), opened as one scene.
    """

    name = "band-files"

    def can_open(self, path: str) -> bool:
        """Whether ``path`` is a folder holding ``<name>_<POL>.tif`` files."""
        from geocolor.errors import GeocolorError
        from geocolor.s1.band_files import band_files_in

        try:
            return bool(band_files_in(path))
        except GeocolorError:  # two scenes in one folder: open() says so
            return True

    def open(self, path: str) -> BandFiles:
        """See :func:`geocolor.s1.band_files.open_band_files`."""
        from geocolor.s1.band_files import band_files_in, open_band_files

        return open_band_files(band_files_in(path))


@hookimpl
def geocolor_register_readers(registry: Registry[S1Reader]) -> None:
    """Add the GRD SAFE, processed backscatter raster and band-file folder readers."""
    for reader in (SafeReader(), BackscatterRasterReader(), BandFilesReader()):
        registry.register(reader.name, reader)
