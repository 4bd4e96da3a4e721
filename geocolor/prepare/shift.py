"""Applying a sub-pixel shift to an image, NaN-aware, lazily on Dask.

The shift :mod:`geocolor.prepare.coregister` estimates is applied here with separable
bilinear interpolation: ``apply_shift(image, dy, dx)[y, x] == image[y - dy, x - dx]``.
"""

from __future__ import annotations

import math

import dask.array as da
import numpy as np
from numpy.typing import ArrayLike, NDArray


def apply_shift(
    image: ArrayLike | da.Array, dy: float, dx: float
) -> NDArray[np.floating] | da.Array:
    """Shift ``image`` by ``(dy, dx)`` pixels with NaN-aware bilinear interpolation.

    ``out[y, x] = image[y - dy, x - dx]``. An output pixel is NaN when a NaN input
    pixel has a non-zero bilinear weight in it or when it samples outside the image
    (the edge the shift uncovers); NaN spreads no further. A dask array stays lazy
    and is shifted block by block with a halo of ``ceil(|shift|) + 1`` pixels.
    Integer images come back as floating point, to hold the NaN.
    """
    if isinstance(image, da.Array):
        # dask leaves Array.astype (and so what it returns) unannotated
        floating = image.astype(np.result_type(image.dtype, np.float32))
        depth = {0: math.ceil(abs(dy)) + 1, 1: math.ceil(abs(dx)) + 1}
        shifted: da.Array = floating.map_overlap(
            _shift_block, depth=depth, boundary=np.nan, dtype=floating.dtype, dy=dy, dx=dx
        )
        return shifted
    array = np.asarray(image)
    return _shift_block(array.astype(np.result_type(array.dtype, np.float32)), dy, dx)


def _shift_block(block: NDArray[np.floating], dy: float, dx: float) -> NDArray[np.floating]:
    """Bilinear shift, done as two 1-D linear shifts (bilinear is separable)."""
    return _shift_axis(_shift_axis(block, dy, axis=0), dx, axis=1)


def _shift_axis(array: NDArray[np.floating], shift: float, axis: int) -> NDArray[np.floating]:
    """``out[i] = (1 - f) · a[i - n] + f · a[i - n - 1]`` with ``shift = n + f``.

    A zero weight skips its neighbour entirely, so a whole-pixel shift never pulls
    in a NaN from the next pixel.
    """
    whole = math.floor(shift)
    fraction = shift - whole
    near = _shift_whole(array, whole, axis)
    if fraction == 0:
        return near
    return (1 - fraction) * near + fraction * _shift_whole(array, whole + 1, axis)


def _shift_whole(array: NDArray[np.floating], shift: int, axis: int) -> NDArray[np.floating]:
    """``out[i] = a[i - shift]`` along ``axis``, NaN where that falls outside."""
    out = np.full_like(array, np.nan)
    length = array.shape[axis]
    if abs(shift) >= length:
        return out
    target = [slice(None)] * array.ndim
    source = [slice(None)] * array.ndim
    target[axis] = slice(max(shift, 0), length + min(shift, 0))
    source[axis] = slice(max(-shift, 0), length - max(shift, 0))
    out[tuple(target)] = array[tuple(source)]
    return out
