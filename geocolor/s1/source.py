"""One way to open a Sentinel-1 scene, whatever form it arrives in.

A scene is a raw GRD product (a SAFE folder or zip), an already processed backscatter
raster, or whatever a plugin's reader understands. :func:`open_s1` asks the readers
registered through the ``geocolor_register_readers`` hook (the two built-in ones come
from the ``geocolor_readers`` plugin) and opens the path with the first whose
``can_open`` accepts it. Every reader returns an :class:`S1Source`, which is all that
pairing, ``prepare``, ``colorize`` and the app need of a scene: who it is, where it
lies, and its backscatter on a map grid.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import dask.array as da
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.plugins.manager import get_plugins
from geocolor.s1.backscatter import Backscatter, S1Config

__all__ = ["Hold", "S1Reader", "S1Source", "SourceInfo", "open_s1"]

Hold = Callable[[da.Array], da.Array]
"""Computes an intermediate image into storage and returns it re-read lazily."""


class SourceInfo(Protocol):
    """What pairing and provenance tags record of an acquisition."""

    @property
    def product_id(self) -> str:
        """The product's name, e.g. ``S1A_IW_GRDH_1SDV_20210614T052647_..._4B2C``."""
        ...

    @property
    def start_time(self) -> datetime:
        """When the acquisition began (UTC): pairing matches it to Sentinel-2 by time."""
        ...


class S1Source(Protocol):
    """An opened Sentinel-1 scene; nothing is read until its pixels are computed."""

    @property
    def info(self) -> SourceInfo:
        """Identity and time of the acquisition."""
        ...

    def footprint(self) -> BaseGeometry:
        """Lon/lat outline of the scene's data, cheap enough to pair and draw on a map."""
        ...

    def native_grid(self) -> Grid | None:
        """The map grid the pixels already lie on, or None in radar geometry.

        ``colorize`` keeps a native grid (cut to the AOI) unless told otherwise, and
        picks a UTM grid at the model's resolution for a scene without one.
        """
        ...

    def on_grid(self, config: S1Config, grid: Grid, hold: Hold | None = None) -> Backscatter:
        """Lazy backscatter on ``grid`` as ``config`` says (measure, dB, polarisations).

        ``hold`` may be used to break a long graph at an intermediate image (a SAFE's
        radar-geometry image before the warp); a source without one ignores it.
        """
        ...


class S1Reader(Protocol):
    """A way to open one kind of scene: what ``geocolor_register_readers`` registers."""

    @property
    def name(self) -> str:
        """Registry name, shown by ``geocolor plugins``."""
        ...

    def can_open(self, path: str) -> bool:
        """Whether ``path`` is this reader's kind of scene; cheap, and never raises."""
        ...

    def open(self, path: str) -> S1Source:
        """The scene at ``path``; a :class:`GeocolorError` naming it when it is broken."""
        ...


def open_s1(path: str | os.PathLike[str]) -> S1Source:
    """Open a Sentinel-1 scene (local path or URL) with the first reader that accepts it.

    Readers are asked in registration order, so the built-in ones (a SAFE with its
    ``manifest.safe``, then any georeferenced GeoTIFF) keep their inputs and a
    plugin's reader adds new kinds of scene.

    Raises
    ------
    GeocolorError
        Naming the file when no reader accepts it, or when the reader finds it broken.
    """
    url = os.fspath(path)
    readers = get_plugins().readers
    for entry in readers.in_registration_order():
        reader: S1Reader = entry.item
        if reader.can_open(url):
            return reader.open(url)
    raise GeocolorError(
        f"{url}: no Sentinel-1 reader opens it (readers: {', '.join(readers.names()) or 'none'}); "
        "expected a GRD SAFE folder or zip with its manifest.safe, a georeferenced "
        "backscatter raster, or a folder of <name>_VV.tif/<name>_VH.tif band files"
    )
