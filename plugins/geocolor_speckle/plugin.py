"""Registers the built-in speckle filters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from geocolor.plugins.hookspecs import hookimpl
from geocolor.plugins.registry import Registry
from geocolor.s1.speckle import SpeckleParams
from geocolor_speckle.boxcar import boxcar
from geocolor_speckle.frost import frost
from geocolor_speckle.gamma_map import gamma_map
from geocolor_speckle.lee import lee
from geocolor_speckle.lee_sigma import lee_sigma, lee_sigma_halo
from geocolor_speckle.local_stats import Float32Array
from geocolor_speckle.median import median
from geocolor_speckle.refined_lee import refined_lee

STRIP_PIXELS = 1 << 17
"""Pixels filtered at a time: a strip's temporaries stay in cache, which makes the
filters two to five times faster on 2048 x 2048 blocks than whole-block arrays."""


def half_window(window: int) -> int:
    """The halo of a filter that reads only the window around each pixel."""
    return window // 2


@dataclass(frozen=True)
class WindowFilter:
    """A speckle filter on a moving window, with the halo that window implies.

    The halo also lets :meth:`apply` cut a block into overlapping strips of rows; the
    filters' sums run in the same order wherever a pixel lies, so the strips join into
    exactly the whole block's result.
    """

    name: str
    function: Callable[[Float32Array, SpeckleParams], Float32Array]
    halo_of_window: Callable[[int], int] = half_window
    #: numpy filters run in cache-sized strips; compiled kernels stream whole blocks
    in_strips: bool = True

    def halo(self, window: int) -> int:
        """Pixels of context each side of a pixel."""
        return self.halo_of_window(window)

    def apply(self, block: Float32Array, params: SpeckleParams) -> Float32Array:
        """Filter one 2-D block, strip by strip."""
        if not self.in_strips:
            return self.function(block, params)
        halo = self.halo(params.window)
        rows, cols = block.shape
        step = max(4 * halo, 1, STRIP_PIXELS // max(cols, 1))
        filtered = np.empty(block.shape, dtype=np.float32)
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            top = max(start - halo, 0)
            strip = self.function(block[top : min(stop + halo, rows)], params)
            filtered[start:stop] = strip[start - top : stop - top]
        return filtered


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
