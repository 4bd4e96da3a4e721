"""Numba kernel of Sentinel-1 calibration and thermal noise removal.

One pass over the DN does what numpy would do in a dozen full-size float64 passes: the
gain and the noise are interpolated on the fly from the small separable pieces that
:func:`geocolor.s1.calibration.lut_window` and :func:`geocolor.s1.noise.noise_window` make.
Compiled without fastmath, so every pixel follows the documented formula operation by
operation (deterministic, independent of the chunking); ``nogil`` lets Dask's threads
run chunks in parallel; ``cache`` keeps the machine code on disk, so only the first
run in an environment pays the compilation (about a second per DN type).
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(cache=True, nogil=True, error_model="numpy")
def calibrated_power(
    dn: npt.NDArray[np.integer],
    gain_rows: npt.NDArray[np.float64],
    gain_before: npt.NDArray[np.int64],
    gain_weight: npt.NDArray[np.float64],
    noise_rows: npt.NDArray[np.float64],
    noise_before: npt.NDArray[np.int64],
    noise_weight: npt.NDArray[np.float64],
    span_edges: npt.NDArray[np.int64],
    span_factors: npt.NDArray[np.float64],
    floor: float,
    out: npt.NDArray[np.float32],
) -> None:
    """Write ``max((DN² - N) / A², floor)`` into ``out``, NaN where DN is 0 (no data).

    ``A`` and ``N`` are the :class:`geocolor.s1.noise.LutWindow` expansions of the gain and
    range-noise pieces, ``N`` scaled by the azimuth factor of its column span (see
    :class:`geocolor.s1.noise.NoiseWindow`); all arithmetic is float64. ``out`` comes from
    the caller because numpy backs large arrays with huge pages and numba does not:
    first touching a numba-allocated chunk costs more than calibrating it.
    """
    for line in range(dn.shape[0]):
        for span in range(span_factors.shape[1]):
            start, stop = span_edges[span], span_edges[span + 1]
            # slices indexed from 0 keep the loop free of negative-index handling,
            # which would otherwise turn its loads into gathers
            _calibrate_run(
                dn[line, start:stop],
                gain_rows[gain_before[line], start:stop],
                gain_rows[gain_before[line] + 1, start:stop],
                gain_weight[line],
                noise_rows[noise_before[line], start:stop],
                noise_rows[noise_before[line] + 1, start:stop],
                noise_weight[line],
                span_factors[line, span],
                floor,
                out[line, start:stop],
            )


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _calibrate_run(
    dn: npt.NDArray[np.integer],
    gain_before: npt.NDArray[np.float64],
    gain_after: npt.NDArray[np.float64],
    gain_weight: float,
    noise_before: npt.NDArray[np.float64],
    noise_after: npt.NDArray[np.float64],
    noise_weight: float,
    factor: float,
    floor: float,
    out: npt.NDArray[np.float32],
) -> None:
    for col in range(dn.shape[0]):
        gain = gain_weight * (gain_after[col] - gain_before[col]) + gain_before[col]
        noise = noise_weight * (noise_after[col] - noise_before[col]) + noise_before[col]
        value = np.float64(dn[col])
        power = (value * value - noise * factor) / (gain * gain)
        if power < floor:
            power = floor
        out[col] = power if value != 0.0 else np.nan
