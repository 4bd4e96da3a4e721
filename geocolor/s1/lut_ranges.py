"""The values a Sentinel-1 calibration or noise LUT may physically hold, and their check.

A LUT value scales every pixel near it, so one NaN, infinity or absurd exponent in the
XML silently spoils a whole region of the output (39.5 dB maxima, NaN holes, -50 dB
floors). ESA's products stay far inside the ranges below; each range leaves two or
more orders of magnitude of margin, so it only refuses what no instrument wrote:

- Calibration gains A (``sigmaNought``, ``betaNought``, ``gamma``, ``dn``) convert DN
  to linear power as ``DN² / A²``. Real products hold about 100 to 2000 (β⁰ is 237.5 in
  IW). Below 1, the largest DN (65535) would give more than +96 dB; above 1e5, every DN
  would map below -4 dB and most below the noise floor. Zero would divide by zero.
- Range noise (``noiseRangeLut``, ``noiseLut``) is a power in DN². Real values are
  about 1 to 1e5; zero is written where a swath has no estimate. Above 65535² it would
  exceed the power of any pixel; a positive value under 1e-3 DN² is a thousand times
  below DN quantisation, so it is a damaged exponent, not a measurement.
- Azimuth noise (``noiseAzimuthLut``) is a dimensionless factor near 1 (0.5 to 1.5 in
  practice); zero is accepted as for range noise, others must lie in [1e-3, 1e3].
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from geocolor.errors import GeocolorError

__all__ = [
    "AZIMUTH_NOISE",
    "CALIBRATION_GAIN",
    "RANGE_NOISE",
    "LutRange",
    "check_lut",
    "vector_name",
]


@dataclass(frozen=True)
class LutRange:
    """Finite values in ``[low, high]``, and exactly zero when ``zero_allowed``."""

    low: float
    high: float
    zero_allowed: bool

    def describe(self) -> str:
        """The range in words, for error messages."""
        span = f"[{self.low:g}, {self.high:g}]"
        return f"0 or {span}" if self.zero_allowed else span


CALIBRATION_GAIN = LutRange(1.0, 1e5, zero_allowed=False)
RANGE_NOISE = LutRange(1e-3, 65535.0**2, zero_allowed=True)
AZIMUTH_NOISE = LutRange(1e-3, 1e3, zero_allowed=True)


def check_lut(values: np.ndarray, allowed: LutRange, source: str, vector: str) -> None:
    """Refuse ``values`` if any is NaN, infinite or outside ``allowed``.

    Parameters
    ----------
    values
        One LUT vector as parsed (float64).
    allowed
        Its physical range.
    source
        The XML file, quoted in the error.
    vector
        Which vector, e.g. ``"sigmaNought vector at line 0 (2021-06-14T05:26:47)"``.
    """
    with np.errstate(invalid="ignore"):
        inside = (values >= allowed.low) & (values <= allowed.high)
    if allowed.zero_allowed:
        inside |= values == 0
    if inside.all():
        return
    index = int(np.argmin(inside))
    raise GeocolorError(
        f"{source}: {vector} holds {float(values[index])!r} at position {index}, outside the "
        f"physical range {allowed.describe()}."
    )


def vector_name(tag: str, vector: ET.Element, line: int) -> str:
    """How an error names a LUT vector: its tag, line and, when annotated, azimuth time."""
    time = vector.find("{*}azimuthTime")
    when = f" ({time.text.strip()})" if time is not None and time.text else ""
    return f"{tag} vector at line {line}{when}"
