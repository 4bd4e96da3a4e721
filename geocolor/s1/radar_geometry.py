"""Range-Doppler geometry of a GRD product: where a point on the ground is in the image.

A ground point's image line is its zero-Doppler azimuth time counted from
``productFirstLineUtcTime`` in ``azimuthTimeInterval`` steps. Its image pixel is its
ground range, from its slant range through the annotation's slant-to-ground-range
polynomials (``coordinateConversionList``: ``gr = sum c_k (R - sr0)^k``), over
``rangePixelSpacing``. The polynomials change slowly with azimuth time; a point's ground
range is interpolated linearly in time between the two bracketing ones, as SNAP does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import required_number, required_numbers, required_time
from geocolor.s1.orbit import Axes, Orbit, parse_orbit

_WGS84_A = 6_378_137.0
_WGS84_E2 = 6.694379990141317e-3


@dataclass(frozen=True, eq=False)
class SlantToGround:
    """The annotation's srgr polynomials: one row of coefficients per azimuth time."""

    times: np.ndarray
    sr0: np.ndarray
    coefficients: np.ndarray

    def ground_range(self, time: np.ndarray, slant_range: np.ndarray) -> np.ndarray:
        """Ground range (m) of ``slant_range`` (m) at azimuth ``time`` (s, same epoch)."""
        from geocolor.s1 import range_doppler_kernels  # numba: imported on first use

        time, slant_range = np.broadcast_arrays(
            np.asarray(time, dtype=np.float64), np.asarray(slant_range, dtype=np.float64)
        )
        ground = np.empty(time.size)
        range_doppler_kernels.ground_range(
            self.times, self.sr0, self.coefficients, time.ravel(), slant_range.ravel(), ground
        )
        return ground.reshape(time.shape)


@dataclass(frozen=True, eq=False)
class RadarGeometry:
    """Orbit and image timing of a product: all that maps the ground to (line, pixel)."""

    orbit: Orbit
    azimuth_time_interval: float
    range_pixel_spacing: float
    slant_to_ground: SlantToGround
    lines: int
    samples: int

    def line_pixel(self, target: Axes) -> tuple[np.ndarray, np.ndarray]:
        """Fractional image (line, pixel) centre coordinates of Earth-fixed ``target`` (x, y, z)."""
        mid_time = (self.lines - 1) / 2.0 * self.azimuth_time_interval
        time, slant_range = self.orbit.zero_doppler(target, mid_time)
        line = time / self.azimuth_time_interval
        pixel = self.slant_to_ground.ground_range(time, slant_range) / self.range_pixel_spacing
        return line, pixel


def geodetic_to_ecef(lon: np.ndarray, lat: np.ndarray, height: np.ndarray) -> Axes:
    """Earth-fixed WGS84 x, y, z (m) of geodetic degrees and ellipsoidal height (m)."""
    lo, la = np.radians(lon), np.radians(lat)
    sin_lat, cos_lat = np.sin(la), np.cos(la)
    normal = _WGS84_A / np.sqrt(1.0 - _WGS84_E2 * sin_lat * sin_lat)
    x = (normal + height) * cos_lat * np.cos(lo)
    y = (normal + height) * cos_lat * np.sin(lo)
    z = (normal * (1.0 - _WGS84_E2) + height) * sin_lat
    return x, y, z


def parse_radar_geometry(root: ET.Element, source: str) -> RadarGeometry:
    """The :class:`RadarGeometry` of one polarisation's product annotation."""
    info = root.find("{*}imageAnnotation/{*}imageInformation")
    if info is None:
        raise GeocolorError(f"{source}: no imageAnnotation/imageInformation element.")
    epoch = required_time(info, "{*}productFirstLineUtcTime", source)
    conversions = root.findall(
        "{*}coordinateConversion/{*}coordinateConversionList/{*}coordinateConversion"
    )
    if not conversions:
        raise GeocolorError(f"{source}: no coordinateConversion (srgr polynomials) found.")
    times = np.array(
        [(required_time(c, "{*}azimuthTime", source) - epoch).total_seconds() for c in conversions]
    )
    order = np.argsort(times, kind="stable")
    coefficients = [required_numbers(c, "{*}srgrCoefficients", source) for c in conversions]
    if len({c.size for c in coefficients}) != 1:
        raise GeocolorError(f"{source}: srgrCoefficients differ in length between entries.")
    sr0 = np.array([required_number(c, "{*}sr0", source) for c in conversions])
    return RadarGeometry(
        orbit=parse_orbit(root, epoch, source),
        azimuth_time_interval=required_number(info, "{*}azimuthTimeInterval", source),
        range_pixel_spacing=required_number(info, "{*}rangePixelSpacing", source),
        slant_to_ground=SlantToGround(times[order], sr0[order], np.stack(coefficients)[order]),
        lines=int(required_number(info, "{*}numberOfLines", source)),
        samples=int(required_number(info, "{*}numberOfSamples", source)),
    )
