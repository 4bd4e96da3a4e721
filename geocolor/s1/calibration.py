"""Sentinel-1 radiometric calibration: DN to σ⁰, β⁰ or γ⁰, one window at a time.

ESA's calibration vectors give a gain A on a sparse (line, pixel) grid; the calibrated
linear power is ``(|DN|² - N) / A²`` with A interpolated bilinearly and N the thermal
noise in DN² (MPC-0392 subtracts noise before calibration). Each window (a Dask chunk,
as :mod:`geocolor.s1.radar_chain` runs it) interpolates only the LUT rows around its own
lines onto its own columns, and a numba kernel (:mod:`geocolor.s1.calibration_kernel`) mixes them
between lines pixel by pixel, so no full-resolution LUT, not even a chunk-sized one,
ever exists. Past the last annotated line or pixel the LUT is clamped (the nearest
value is held): ESA specifies that the vectors cover the image, so the clamp only
guards ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import parse_xml, required_integer, required_numbers
from geocolor.s1.calibration_kernel import calibrated_power
from geocolor.s1.lut_ranges import CALIBRATION_GAIN, check_lut, vector_name
from geocolor.s1.noise import LutWindow, NoiseLuts, NoiseWindow, line_mix, noise_window

__all__ = [
    "MEASURES",
    "POWER_FLOOR",
    "CalibrationLuts",
    "calibrate_window",
    "lut_window",
    "parse_calibration",
]

MEASURES = ("sigma0", "beta0", "gamma0")

POWER_FLOOR = 1e-5
"""Smallest calibrated linear power (-50 dB), applied after calibration.

Noise subtraction leaves zero or negative power where the signal is below the noise;
flooring (rather than masking) keeps those pixels valid for the dB conversion and the
speckle filter. -50 dB sits well under Sentinel-1's noise-equivalent σ⁰ (about -22 to
-28 dB), so only pixels that are noise anyway reach it.
"""

_XML_NAMES = {"sigma0": "sigmaNought", "beta0": "betaNought", "gamma0": "gamma", "dn": "dn"}


@dataclass(frozen=True, eq=False)
class CalibrationLuts:
    """Calibration gains A on the annotated grid; every array row is one annotated line."""

    lines: np.ndarray
    pixels: np.ndarray
    sigma0: np.ndarray
    beta0: np.ndarray
    gamma0: np.ndarray
    dn: np.ndarray


def parse_calibration(xml: bytes, source: str) -> CalibrationLuts:
    """Read an ``annotation/calibration/calibration-*.xml`` file.

    GRD vectors share one pixel axis, which lets interpolation run along pixels once
    per needed line; a product breaking that is refused rather than misread, and so is
    a gain outside its physical range (:mod:`geocolor.s1.lut_ranges`).
    """
    root = parse_xml(xml, source)
    vectors = root.findall("{*}calibrationVectorList/{*}calibrationVector")
    if not vectors:
        raise GeocolorError(f"{source}: no calibrationVector found.")
    lines = np.array([required_integer(v, "{*}line", source) for v in vectors])
    pixels = required_numbers(vectors[0], "{*}pixel", source, np.int64)
    for vector, line in zip(vectors, lines, strict=True):
        if not np.array_equal(required_numbers(vector, "{*}pixel", source, np.int64), pixels):
            raise GeocolorError(
                f"{source}: calibration vector at line {line} has its own pixel positions; "
                "GRD vectors must share one pixel axis."
            )
    tables: dict[str, np.ndarray] = {}
    for measure, xml_name in _XML_NAMES.items():
        rows = [required_numbers(v, f"{{*}}{xml_name}", source) for v in vectors]
        if any(row.shape != pixels.shape for row in rows):
            raise GeocolorError(f"{source}: {xml_name} vectors differ in length from pixel.")
        for vector, line, row in zip(vectors, lines, rows, strict=True):
            check_lut(row, CALIBRATION_GAIN, source, vector_name(xml_name, vector, line))
        tables[measure] = np.stack(rows)
    if np.any(np.diff(lines) <= 0) or np.any(np.diff(pixels) <= 0):
        raise GeocolorError(f"{source}: calibration lines or pixels are not increasing.")
    return CalibrationLuts(lines=lines, pixels=pixels, **tables)


def lut_window(
    lines: np.ndarray,
    pixels: np.ndarray,
    values: np.ndarray,
    row0: int,
    col0: int,
    shape: tuple[int, int],
) -> LutWindow:
    """A sparse (line, pixel) LUT over one window, bilinear and separable.

    Only the LUT rows bracketing the window's lines are interpolated, along pixels onto
    the window's columns; the mix between lines is left to the caller (the calibration
    kernel does it pixel by pixel). Values past the LUT ends are clamped (see the module
    note).

    Parameters
    ----------
    lines, pixels
        Strictly increasing LUT coordinates, shapes ``(n,)`` and ``(m,)``.
    values
        LUT, shape ``(n, m)``.
    row0, col0
        Image line and pixel of the window's first element.
    shape
        Window ``(height, width)``.
    """
    height, width = shape
    needed, before, weight = line_mix(lines, row0, height)
    cols = np.arange(col0, col0 + width)
    rows = np.stack([np.interp(cols, pixels, values[index]) for index in needed])
    return LutWindow(rows, before, weight)


def calibrate_window(
    dn: np.ndarray,
    luts: CalibrationLuts,
    measure: str,
    noise: NoiseLuts | None,
    corner: tuple[int, int],
    out: np.ndarray,
) -> None:
    """Calibrate one in-memory DN window into ``out`` (float32, the window's shape).

    ``corner`` is the image (line, sample) of ``dn[0, 0]``; it may lie outside the image
    for a window padded at the edge, where DN 0 marks the padding as no data. Power is
    floored at :data:`POWER_FLOOR`. Writing into the caller's buffer lets a chain reuse
    one scratch array chunk after chunk.
    """
    row0, col0 = corner
    gain = lut_window(luts.lines, luts.pixels, getattr(luts, measure), row0, col0, dn.shape)
    thermal = _no_noise(dn.shape) if noise is None else noise_window(noise, row0, col0, dn.shape)
    calibrated_power(
        dn,
        gain.rows,
        gain.before,
        gain.weight,
        thermal.range_lut.rows,
        thermal.range_lut.before,
        thermal.range_lut.weight,
        thermal.edges,
        thermal.factors,
        POWER_FLOOR,
        out,
    )


def _no_noise(shape: tuple[int, int]) -> NoiseWindow:
    """Zero noise in the kernel's form, which subtracts it exactly (DN² - 0 = DN²)."""
    height, width = shape
    flat = LutWindow(np.zeros((2, width)), np.zeros(height, dtype=np.int64), np.zeros(height))
    return NoiseWindow(flat, np.array([0, width]), np.ones((height, 1)))
