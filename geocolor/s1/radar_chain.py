"""DN to calibrated, speckle-filtered backscatter in one Dask task per chunk.

Run as separate Dask stages (calibrate, filter with
:func:`geocolor.s1.speckle.filter_speckle`, convert to dB), each stage allocates a fresh
float32 copy of every chunk, and the filter's halo is cut from float32 power and glued
onto its neighbours as one more copy. On a full scene those copies, and the page faults
of their fresh memory, cost more than the filter itself. Here the halo travels as
uint16 DN, a chunk is calibrated into a scratch buffer its worker thread keeps for the
next chunk, and a chunk allocates only the filter's output and, for dB, its logarithm,
contiguous and ready to write. The kernels are those of the staged chain, so the
result equals it bit for bit. The price is one chunk-sized float32 buffer per worker
thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np

from geocolor.errors import GeocolorError, UsageError
from geocolor.plugins.manager import get_plugins
from geocolor.s1.calibration import MEASURES, CalibrationLuts, calibrate_window
from geocolor.s1.noise import NoiseLuts
from geocolor.s1.speckle import NO_FILTER, SpeckleFilter, SpeckleParams

_scratch = threading.local()


@dataclass(frozen=True, eq=False)
class RadarSteps:
    """What happens to each chunk of DN: the calibration, its noise and the filter."""

    luts: CalibrationLuts
    measure: str
    noise: NoiseLuts | None
    speckle: str
    params: SpeckleParams

    def __post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise UsageError(
                f"unknown calibration measure {self.measure!r}; use one of {MEASURES}."
            )


def radar_backscatter(
    dn: da.Array, steps: RadarSteps, origin: tuple[int, int] = (0, 0), db: bool = False
) -> da.Array:
    """Calibrate, denoise and speckle-filter a lazy DN image, optionally to dB.

    Parameters
    ----------
    dn
        uint16 ``(lines, samples)`` DN whose first pixel is image line and sample
        ``origin`` (as :meth:`geocolor.s1.safe.SafeProduct.read_dn` returns it).
    steps
        Calibration LUTs, measure, thermal noise (None keeps it) and speckle filter.
    origin
        Image (line, sample) of ``dn[0, 0]``.
    db
        Return ``10 log10`` of the power rather than the power.

    Returns
    -------
    dask.array.Array
        float32 of ``dn``'s shape: NaN where DN is 0 (no data), as the staged chain.
    """
    if dn.ndim != 2:
        raise UsageError(f"the radar chain needs a 2-D (lines, samples) DN image, not {dn.shape}.")
    speckle_filter = chosen_filter(steps.speckle)
    halo = speckle_halo(steps.speckle, steps.params)
    haloed = dn
    # dask leaves overlap and map_blocks unannotated
    if halo:
        # DN 0 is no data, so padding the image edge with it gives the filter NaN there
        haloed = da.overlap.overlap(dn, depth={0: halo, 1: halo}, boundary={0: 0, 1: 0})
    inner = tuple(tuple(size - 2 * halo for size in axis) for axis in haloed.chunks)
    starts = tuple(np.cumsum((0, *axis[:-1])) for axis in inner)
    backscatter: da.Array = da.map_blocks(
        _backscatter_block,
        haloed,
        chunks=inner,
        dtype=np.float32,
        meta=np.empty((0, 0), dtype=np.float32),
        steps=steps,
        speckle_filter=speckle_filter,
        corners=(starts[0] + origin[0] - halo, starts[1] + origin[1] - halo),
        halo=halo,
        db=db,
    )
    return backscatter


def chosen_filter(name: str) -> SpeckleFilter | None:
    """The registered speckle filter ``name`` (None for ``"none"``); unknown is a usage error."""
    if name == NO_FILTER:
        return None
    try:
        speckle_filter: SpeckleFilter = get_plugins().speckle_filters.get(name)
    except GeocolorError as error:
        raise UsageError(str(error)) from None
    return speckle_filter


def speckle_halo(name: str, params: SpeckleParams) -> int:
    """Pixels of context the filter ``name`` reads on each side of a pixel."""
    speckle_filter = chosen_filter(name)
    return 0 if speckle_filter is None else speckle_filter.halo(params.window)


def calibrate(
    dn: da.Array,
    luts: CalibrationLuts,
    measure: str = "sigma0",
    noise: NoiseLuts | None = None,
    origin: tuple[int, int] = (0, 0),
) -> da.Array:
    """Calibrated, optionally denoised linear power of a lazy DN image: the chain, unfiltered.

    For a GRD product's pixels outside ``process-s1``: the LUTs and noise vectors come
    from :meth:`~geocolor.s1.safe.SafeProduct.calibration` and
    :meth:`~geocolor.s1.safe.SafeProduct.noise`, the DN from
    :meth:`~geocolor.s1.safe.SafeProduct.read_dn`; :func:`geocolor.s1.speckle.filter_speckle`
    filters the result.

    Parameters
    ----------
    dn
        uint16 ``(lines, samples)`` DN.
    luts
        The polarisation's calibration vectors.
    measure
        ``"sigma0"``, ``"beta0"`` or ``"gamma0"``.
    noise
        The polarisation's thermal noise vectors, subtracted when given.
    origin
        Image (line, sample) of ``dn[0, 0]``, where the LUTs are read from.

    Returns
    -------
    dask.array.Array
        float32 linear power of ``dn``'s shape and chunks, NaN where DN is 0 (no data).
    """
    return radar_backscatter(
        dn, RadarSteps(luts, measure, noise, NO_FILTER, SpeckleParams()), origin
    )


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10 log10`` of linear power as a new C-contiguous float32 array; NaN stays NaN.

    Writing the logarithm into a new array rather than in place makes a cropped view
    contiguous in the same pass, so a writer need not copy it again.
    """
    db: np.ndarray = np.log10(power, dtype=np.float32)
    db *= np.float32(10.0)
    return db


def _backscatter_block(
    dn: np.ndarray,
    *,
    steps: RadarSteps,
    speckle_filter: SpeckleFilter | None,
    corners: tuple[np.ndarray, np.ndarray],
    halo: int,
    db: bool,
    block_id: tuple[int, int],
) -> np.ndarray:
    corner = (int(corners[0][block_id[0]]), int(corners[1][block_id[1]]))
    if speckle_filter is None:
        result = np.empty(dn.shape, dtype=np.float32)
        calibrate_window(dn, steps.luts, steps.measure, steps.noise, corner, result)
    else:
        power = _scratch_buffer(dn.shape)
        calibrate_window(dn, steps.luts, steps.measure, steps.noise, corner, power)
        filtered = speckle_filter.apply(power, steps.params)
        if np.may_share_memory(filtered, power):  # a filter may hand its input back
            filtered = filtered.copy()
        rows, cols = filtered.shape
        result = filtered[halo : rows - halo, halo : cols - halo]
    return power_to_db(result) if db else result


def _scratch_buffer(shape: tuple[int, ...]) -> np.ndarray[Any, np.dtype[np.float32]]:
    """This thread's float32 scratch array of ``shape``, grown when too small."""
    size = int(np.prod(shape))
    buffer: np.ndarray | None = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.size < size:
        buffer = _scratch.buffer = np.empty(size, dtype=np.float32)
    return buffer[:size].reshape(shape)
