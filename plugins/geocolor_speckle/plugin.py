"""Registers the built-in speckle filters."""

from __future__ import annotations

from typing import Any

from geocolor.plugins import Registry, hookimpl
from geocolor.s1.window_filter import WindowFilter
from geocolor_speckle.boxcar import boxcar
from geocolor_speckle.frost import frost
from geocolor_speckle.gamma_map import gamma_map
from geocolor_speckle.lee import lee
from geocolor_speckle.lee_sigma import lee_sigma, lee_sigma_halo
from geocolor_speckle.median import median
from geocolor_speckle.refined_lee import refined_lee

BUILT_IN = (
    WindowFilter("boxcar", boxcar),
    WindowFilter("median", median),
    WindowFilter("lee", lee, in_strips=False),
    WindowFilter("refined-lee", refined_lee),
    WindowFilter("lee-sigma", lee_sigma, lee_sigma_halo),
    WindowFilter("frost", frost),
    WindowFilter("gamma-map", gamma_map),
)


@hookimpl
def geocolor_register_speckle_filters(registry: Registry[Any]) -> None:
    """Add the seven built-in speckle filters."""
    for speckle_filter in BUILT_IN:
        registry.register(speckle_filter.name, speckle_filter)
