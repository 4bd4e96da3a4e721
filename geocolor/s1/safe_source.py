"""A GRD SAFE product as a scene source: the Sentinel-1 chain run onto a map grid.

:class:`~geocolor.s1.safe.SafeProduct` reads a product's files; this adds what every
scene offers (:class:`geocolor.s1.source.S1Source`), so pairing, ``prepare`` and
``colorize`` treat a raw product and a processed raster alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from shapely.geometry.base import BaseGeometry

from geocolor.geo.grid import Grid
from geocolor.s1.backscatter import Backscatter, S1Config, backscatter
from geocolor.s1.safe import ProductInfo, SafeProduct
from geocolor.s1.source import Hold


@dataclass(frozen=True)
class SafeSource:
    """An opened GRD product; its pixels lie in radar geometry, so it has no native grid."""

    product: SafeProduct

    @property
    def info(self) -> ProductInfo:
        """Identity, time and geometry from the manifest and the first annotation."""
        return self.product.info

    def footprint(self) -> BaseGeometry:
        """Lon/lat outline through the geolocation grid's outer tie points."""
        return self.product.footprint()

    def native_grid(self) -> None:
        """None: a GRD product is in radar geometry."""
        return None

    def on_grid(self, config: S1Config, grid: Grid, hold: Hold | None = None) -> Backscatter:
        """The chain (calibration, noise, speckle, warp, dB) onto ``grid``, lazily.

        ``hold`` receives the filtered radar-geometry image before the warp (see
        :func:`geocolor.s1.backscatter.backscatter`).
        """
        return backscatter(self.product, config, grid=grid, hold=hold)
