"""Registers the built-in scene readers; their code is geocolor's public API in ``geocolor.s1``.

The SAFE reader comes first: :func:`geocolor.s1.source.open_s1` asks readers in
registration order, and GDAL would also open a SAFE folder as an (ungeoreferenced) raster.
"""

from __future__ import annotations

from typing import Any

from geocolor.plugins.hookspecs import hookimpl
from geocolor.plugins.registry import Registry
from geocolor.s1.raster import BackscatterRasterReader
from geocolor.s1.safe_source import SafeReader


@hookimpl
def geocolor_register_readers(registry: Registry[Any]) -> None:
    """Add the GRD SAFE reader and the processed backscatter raster reader."""
    for reader in (SafeReader(), BackscatterRasterReader()):
        registry.register(reader.name, reader)
