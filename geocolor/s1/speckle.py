"""Speckle filters: what a filter is, its parameters, and filtering any linear-power image.

The filters themselves are plugins (``geocolor_register_speckle_filters``). The
Sentinel-1 chain runs them inside its one task per chunk
(:mod:`geocolor.s1.radar_chain`); :func:`filter_speckle` is the same filtering for an
intensity image that comes from elsewhere (another processor, an xarray of sigma0):
each chunk is extended by the filter's halo taken from its neighbours, so the result
does not depend on the chunking, and the image edge is padded with NaN (nodata) rather
than with invented values such as reflections.

Filter plugins import this module for :class:`SpeckleParams`, and every ``geocolor``
command listing loads the plugins, so Dask is imported only when :func:`filter_speckle`
runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from geocolor.errors import UsageError
from geocolor.plugins.manager import get_plugins

if TYPE_CHECKING:
    import dask.array as da
    import numpy.typing as npt

    from geocolor.plugins.registry import Registry

NO_FILTER = "none"
SIGMA_RANGE = (0.5, 0.9)


@dataclass(frozen=True)
class SpeckleParams:
    """Speckle filter settings, named and defaulted as SNAP's Speckle-Filter operator.

    Parameters
    ----------
    window
        Side of the square moving window in pixels, odd and at least 3 (SNAP's
        ``filterSizeX``/``filterSizeY``).
    looks
        Equivalent number of looks (ENL) of the input intensity (SNAP's ``enl``); it
        fixes the speckle coefficient of variation ``Cu = 1/sqrt(looks)``. SNAP's
        ``estimateENL`` (an estimate per tile) is deliberately not offered: an estimate
        per chunk would make the output depend on the chunking. Give the product's
        ENL instead (about 4.4 for Sentinel-1 IW GRDH).
    damping
        Frost damping factor (SNAP's ``dampingFactor``): larger keeps edges sharper.
    sigma
        Lee Sigma's sigma, the share of speckle kept inside the sigma range, 0.5 to 0.9
        as SNAP offers.
    target_window
        Lee Sigma's target window for the first estimate and point-target detection:
        odd, at least 3 and at most ``window`` (SNAP offers 3 and 5).
    """

    window: int = 7
    looks: float = 1.0
    damping: float = 2.0
    sigma: float = 0.9
    target_window: int = 3

    def __post_init__(self) -> None:
        _require_odd_window("window", self.window)
        _require_odd_window("target_window", self.target_window)
        if self.target_window > self.window:
            raise UsageError(
                f"speckle parameter target_window={self.target_window} must not exceed "
                f"window={self.window}"
            )
        if not _is_number(self.looks) or self.looks <= 0:
            raise UsageError(f"speckle parameter looks={self.looks!r} must be a positive number")
        if not _is_number(self.damping) or self.damping < 0:
            raise UsageError(f"speckle parameter damping={self.damping!r} must be a number >= 0")
        low, high = SIGMA_RANGE
        if not _is_number(self.sigma) or not low <= self.sigma <= high:
            raise UsageError(
                f"speckle parameter sigma={self.sigma!r} must lie between {low} and {high}"
            )


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _require_odd_window(name: str, value: object) -> None:
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 3 or value % 2 == 0:
        raise UsageError(f"speckle parameter {name}={value!r} must be an odd integer >= 3")


class SpeckleFilter(Protocol):
    """A speckle filter as plugins register it.

    ``apply`` filters one 2-D float32 block of linear power in which NaN marks nodata:
    NaN pixels stay NaN, NaN neighbours are left out of every statistic, and the output
    is float32 of the block's shape. ``halo`` is how many pixels of context ``apply``
    reads on each side of a pixel; pixels closer than that to the block's border may
    be wrong, and :func:`filter_speckle` crops them away.
    """

    name: str

    def halo(self, window: int) -> int:
        """Pixels of context needed on each side for a ``window``-sized filter."""
        ...

    def apply(
        self, block: npt.NDArray[np.float32], params: SpeckleParams
    ) -> npt.NDArray[np.float32]:
        """Filter one 2-D block."""
        ...


def filter_speckle(
    image: da.Array,
    name: str,
    params: SpeckleParams | None = None,
    registry: Registry[Any] | None = None,
) -> da.Array:
    """Filter speckle in a lazily chunked linear-power image.

    Parameters
    ----------
    image
        ``(y, x)`` or ``(band, y, x)`` intensity in linear power, NaN as nodata; bands
        are filtered independently.
    name
        A registered filter name, or ``"none"`` to return ``image`` unchanged.
    params
        Filter settings; SNAP's defaults when ``None``.
    registry
        Where to look ``name`` up; the loaded plugins' speckle filters by default.

    Returns
    -------
    dask.array.Array
        Float32 of ``image``'s shape and chunks, save that chunks thinner than the halo
        are first merged with their neighbours.
    """
    import dask.array as da

    if name == NO_FILTER:
        return image
    if registry is None:
        registry = get_plugins().speckle_filters
    speckle_filter: SpeckleFilter = registry.get(name)
    if image.ndim not in (2, 3):
        raise UsageError(
            f"speckle filter {name!r} needs a (y, x) or (band, y, x) image, "
            f"got {image.ndim} dimensions"
        )
    params = SpeckleParams() if params is None else params
    halo = speckle_filter.halo(params.window)
    spatial_axes = (image.ndim - 2, image.ndim - 1)
    filtered: da.Array = da.map_overlap(
        partial(_filter_block, speckle_filter=speckle_filter, params=params),
        image.astype(np.float32),
        depth={axis: halo if axis in spatial_axes else 0 for axis in range(image.ndim)},
        boundary={axis: np.nan if axis in spatial_axes else "none" for axis in range(image.ndim)},
        dtype=np.float32,
        meta=np.empty((0,) * image.ndim, dtype=np.float32),
    )
    return filtered


def _filter_block(
    block: npt.NDArray[np.float32], *, speckle_filter: SpeckleFilter, params: SpeckleParams
) -> npt.NDArray[np.float32]:
    if block.ndim == 2:
        return speckle_filter.apply(block, params)
    return np.stack([speckle_filter.apply(band, params) for band in block])
