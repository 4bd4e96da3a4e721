"""Sentinel-1 thermal noise LUTs: parsing and their separable form over image windows.

Noise is annotated sparsely, in DN² units, in two XML generations:

- IPF >= 2.9: ``noiseRangeVectorList`` (one range profile per annotated line, each with
  its own pixel positions) times ``noiseAzimuthVectorList`` (one azimuth profile per
  swath block, a rectangle of lines and samples with inclusive bounds).
- IPF < 2.9: ``noiseVectorList`` with ``noiseLut``: range profiles only, so the azimuth
  factor is 1 everywhere.

Following ESA's thermal denoising note (MPC-0392), the noise at (line, pixel) is the
range profile interpolated linearly along pixels on each annotated line, then linearly
between lines, times the azimuth profile of the swath block holding the pixel. Past the
first or last annotated line or pixel the nearest value is held (clamped), not
extrapolated: the annotation is specified to cover the whole image, so clamping only
guards against off-by-one ends and never invents a trend.

A window's noise is never made dense here: :func:`noise_window` keeps the few 1-D
pieces (range rows on the window's columns, line weights, azimuth factors per line and
swath column ranges) that :mod:`geocolor.s1.calibration_kernel` combines pixel by pixel.

This module also holds :func:`line_mix`, the interpolation between annotated lines that
:mod:`geocolor.s1.calibration` shares, because noise is the lower of the two in the import
order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import (
    local_name,
    parse_xml,
    required_integer,
    required_numbers,
    required_text,
)
from geocolor.s1.lut_ranges import AZIMUTH_NOISE, RANGE_NOISE, check_lut, vector_name

__all__ = [
    "AzimuthNoiseBlock",
    "LutWindow",
    "NoiseLuts",
    "NoiseWindow",
    "RangeNoiseVector",
    "line_mix",
    "noise_window",
    "parse_noise",
]


@dataclass(frozen=True, eq=False)
class RangeNoiseVector:
    """Range noise profile (DN²) annotated on one image line."""

    line: int
    pixels: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class AzimuthNoiseBlock:
    """Azimuth noise profile of one swath block; the line and sample bounds are inclusive."""

    swath: str
    first_line: int
    first_sample: int
    last_line: int
    last_sample: int
    lines: np.ndarray
    values: np.ndarray


@dataclass(frozen=True, eq=False)
class NoiseLuts:
    """Noise annotation of one polarisation; ``azimuth_blocks`` is empty for IPF < 2.9."""

    range_vectors: tuple[RangeNoiseVector, ...]
    azimuth_blocks: tuple[AzimuthNoiseBlock, ...]

    @property
    def lines(self) -> np.ndarray:
        """Image lines of the range vectors, strictly increasing."""
        return np.array([vector.line for vector in self.range_vectors], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class LutWindow:
    """A sparse (line, pixel) LUT over one image window, kept separable.

    Line ``i`` of the window is ``weight[i] * (after - before) + before`` with
    ``before`` and ``after`` the rows ``rows[before[i]]`` and ``rows[before[i] + 1]``:
    the LUT lines bracketing it, already interpolated onto the window's columns. Each
    value depends only on its image line and pixel, never on where the window starts,
    so chunked results equal unchunked ones exactly.
    """

    rows: np.ndarray
    """LUT lines bracketing the window on its columns, float64 ``(k, width)``, k >= 2."""
    before: np.ndarray
    """Row of ``rows`` at or before each window line, int64 ``(height,)``."""
    weight: np.ndarray
    """How far each window line lies from that row to the next, float64 in [0, 1]."""


def line_mix(
    positions: np.ndarray, first: int, height: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which LUT lines bracket each of ``height`` image lines from ``first``, and how.

    Parameters
    ----------
    positions
        Strictly increasing image lines of the LUT rows, shape ``(n,)``.
    first, height
        The window's first image line and its number of lines.

    Returns
    -------
    tuple of numpy.ndarray
        ``needed``: indices of the LUT rows in use, in order, always at least two (a
        single-line LUT is repeated); ``before`` and ``weight`` as :class:`LutWindow`
        holds them, ``before`` counted within ``needed``. Lines past either end take the
        nearest LUT line (weight clamped to 0 or 1).
    """
    if len(positions) == 1:
        return np.zeros(2, dtype=np.int64), np.zeros(height, dtype=np.int64), np.zeros(height)
    at = np.arange(first, first + height)
    lower = np.clip(np.searchsorted(positions, at, side="right") - 1, 0, len(positions) - 2)
    start = positions[lower]
    weight = np.clip((at - start) / (positions[lower + 1] - start), 0.0, 1.0)
    needed = np.arange(lower[0], lower[-1] + 2)
    return needed, lower - lower[0], weight


def parse_noise(xml: bytes, source: str) -> NoiseLuts:
    """Read either noise XML generation into :class:`NoiseLuts`.

    Parameters
    ----------
    xml
        Content of an ``annotation/calibration/noise-*.xml`` file.
    source
        Name of that file, quoted in errors.
    """
    root = parse_xml(xml, source)
    range_list = root.find("{*}noiseRangeVectorList")
    if range_list is not None:
        vectors = _range_vectors(range_list, "{*}noiseRangeLut", source)
        azimuth_list = root.find("{*}noiseAzimuthVectorList")
        blocks = () if azimuth_list is None else _azimuth_blocks(azimuth_list, source)
        return NoiseLuts(vectors, blocks)
    legacy_list = root.find("{*}noiseVectorList")
    if legacy_list is None:
        raise GeocolorError(f"{source}: no noiseRangeVectorList or noiseVectorList found.")
    return NoiseLuts(_range_vectors(legacy_list, "{*}noiseLut", source), ())


def _range_vectors(
    vector_list: ET.Element, lut_path: str, source: str
) -> tuple[RangeNoiseVector, ...]:
    vectors = []
    for element in vector_list:
        pixels = required_numbers(element, "{*}pixel", source, np.int64)
        values = required_numbers(element, lut_path, source)
        line = required_integer(element, "{*}line", source)
        if pixels.shape != values.shape or not len(pixels):
            raise GeocolorError(
                f"{source}: noise vector at line {line} has {len(pixels)} pixels "
                f"but {len(values)} values."
            )
        if np.any(np.diff(pixels) < 0):
            raise GeocolorError(f"{source}: noise vector at line {line} has unsorted pixels.")
        check_lut(values, RANGE_NOISE, source, vector_name(local_name(lut_path), element, line))
        vectors.append(RangeNoiseVector(line, pixels, values))
    lines = np.array([vector.line for vector in vectors])
    if not len(vectors) or np.any(np.diff(lines) <= 0):
        raise GeocolorError(f"{source}: noise vectors are missing or not in increasing lines.")
    return tuple(vectors)


def _azimuth_blocks(block_list: ET.Element, source: str) -> tuple[AzimuthNoiseBlock, ...]:
    blocks = []
    for element in block_list:
        lines = required_numbers(element, "{*}line", source, np.int64)
        values = required_numbers(element, "{*}noiseAzimuthLut", source)
        swath = required_text(element, "{*}swath", source)
        if lines.shape != values.shape or not len(lines) or np.any(np.diff(lines) < 0):
            raise GeocolorError(
                f"{source}: azimuth noise vector of {swath} has mismatched or unsorted lines."
            )
        check_lut(values, AZIMUTH_NOISE, source, f"noiseAzimuthLut vector of swath {swath}")
        blocks.append(
            AzimuthNoiseBlock(
                swath=swath,
                first_line=required_integer(element, "{*}firstAzimuthLine", source),
                first_sample=required_integer(element, "{*}firstRangeSample", source),
                last_line=required_integer(element, "{*}lastAzimuthLine", source),
                last_sample=required_integer(element, "{*}lastRangeSample", source),
                lines=lines,
                values=values,
            )
        )
    return tuple(blocks)


@dataclass(frozen=True, eq=False)
class NoiseWindow:
    """Thermal noise (DN²) over one image window, kept separable.

    The noise at a window pixel is the :class:`LutWindow` ``range_lut`` value times the
    azimuth factor of its line in the column span holding it: span ``j`` covers columns
    ``edges[j]`` to ``edges[j + 1] - 1`` and scales line ``i`` by ``factors[i, j]``.
    Spans follow the swath blocks' sample bounds; a pixel no block covers has factor 1,
    and one that several cover (never in ESA products) has the product of their factors.
    """

    range_lut: LutWindow
    edges: np.ndarray
    """Column offsets where the spans start, then the window width, int64 ``(s + 1,)``."""
    factors: np.ndarray
    """Azimuth factor of each line in each span, float64 ``(height, s)``."""


def noise_window(noise: NoiseLuts, row0: int, col0: int, shape: tuple[int, int]) -> NoiseWindow:
    """The noise over the window at ``(row0, col0)`` of ``shape``, as 1-D pieces.

    Only the range vectors bracketing the window's lines are interpolated (each onto
    the window's columns, as their pixel positions may differ); each azimuth block
    contributes its profile on the window's lines to the spans it covers.
    """
    height, width = shape
    needed, before, weight = line_mix(noise.lines, row0, height)
    cols = np.arange(col0, col0 + width)
    vectors = [noise.range_vectors[index] for index in needed]
    rows = np.stack([np.interp(cols, vector.pixels, vector.values) for vector in vectors])
    bounds = [
        (block.first_sample - col0, block.last_sample + 1 - col0) for block in noise.azimuth_blocks
    ]
    edges = np.unique(np.clip([0, width, *(edge for pair in bounds for edge in pair)], 0, width))
    factors = np.ones((height, len(edges) - 1))
    lines = np.arange(row0, row0 + height)
    for block, (left, right) in zip(noise.azimuth_blocks, bounds, strict=True):
        inside = (lines >= block.first_line) & (lines <= block.last_line)
        spans = (edges[:-1] >= left) & (edges[1:] <= right)
        if inside.any() and spans.any():
            profile = np.interp(lines[inside], block.lines, block.values)
            factors[np.ix_(inside, spans)] *= profile[:, np.newaxis]
    return NoiseWindow(LutWindow(rows, before, weight), edges, factors)
