"""Sentinel-1 thermal noise LUTs: parsing and dense evaluation over image windows.

Noise is annotated sparsely, in DN² units, in two XML generations:

- IPF >= 2.9: ``noiseRangeVectorList`` (one range profile per annotated line, each with
  its own pixel positions) times ``noiseAzimuthVectorList`` (one azimuth profile per
  swath block, a rectangle of lines and samples with inclusive bounds).
- IPF < 2.9: ``noiseVectorList`` with ``noiseLut``: range profiles only, so the azimuth
  factor is 1 everywhere.

Following ESA's thermal denoising note (MPC-0392), the dense noise at (line, pixel) is
the range profile interpolated linearly along pixels on each annotated line, then
linearly between lines, times the azimuth profile of the swath block holding the pixel.
Past the first or last annotated line or pixel the nearest value is held (clamped), not
extrapolated: the annotation is specified to cover the whole image, so clamping only
guards against off-by-one ends and never invents a trend.

This module also holds the small XML and interpolation helpers that
:mod:`geocolor.calibration` and :mod:`geocolor.safe` share, because it is the lowest of
the three in the import order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from geocolor.errors import GeocolorError

__all__ = [
    "AzimuthNoiseBlock",
    "NoiseLuts",
    "RangeNoiseVector",
    "covering_slice",
    "element_numbers",
    "element_text",
    "interpolate_rows",
    "noise_power",
    "parse_noise",
    "parse_xml",
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


def parse_xml(xml: bytes, source: str) -> ET.Element:
    """Parse an annotation file, turning malformed XML into a one-line user error."""
    try:
        return ET.fromstring(xml)
    except ET.ParseError as error:
        raise GeocolorError(f"{source}: malformed XML ({error}).") from error


def element_text(parent: ET.Element, path: str, source: str) -> str:
    """Text of the required element at ``path`` (ElementTree syntax, ``{*}`` allowed)."""
    element = parent.find(path)
    if element is None or element.text is None or not element.text.strip():
        raise GeocolorError(f"{source}: missing or empty element {path!r}.")
    return element.text.strip()


def element_numbers(
    parent: ET.Element, path: str, source: str, dtype: type[np.generic] = np.float64
) -> np.ndarray:
    """Whitespace-separated numbers of the required element at ``path`` as a 1-D array."""
    text = element_text(parent, path, source)
    try:
        return np.array(text.split(), dtype=np.float64).astype(dtype, casting="unsafe")
    except ValueError as error:
        raise GeocolorError(f"{source}: element {path!r} holds a non-number.") from error


def covering_slice(positions: np.ndarray, first: int, last: int) -> slice:
    """Smallest run of sorted ``positions`` that brackets every index in ``[first, last]``."""
    count = len(positions)
    start = int(np.clip(np.searchsorted(positions, first, side="right") - 1, 0, count - 1))
    stop = int(np.clip(np.searchsorted(positions, last, side="left"), 0, count - 1))
    return slice(start, max(start, stop) + 1)


def interpolate_rows(positions: np.ndarray, table: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of ``table`` rows along axis 0, clamped at both ends.

    Parameters
    ----------
    positions
        Strictly increasing coordinates of the ``table`` rows, shape ``(k,)``.
    table
        Values, shape ``(k, w)``.
    at
        Coordinates to evaluate, shape ``(q,)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(q, w)``, float64. Each output row mixes only two table rows, so the
        cost is one multiply and one add per output value. ``at`` must be sorted.
    """
    table = np.asarray(table, dtype=np.float64)
    if len(positions) == 1:
        return np.repeat(table, len(at), axis=0)
    lower = np.clip(np.searchsorted(positions, at, side="right") - 1, 0, len(positions) - 2)
    start = positions[lower]
    weight = np.clip((at - start) / (positions[lower + 1] - start), 0.0, 1.0)
    result = np.empty((len(at), table.shape[1]))
    # ``at`` is sorted, so the rows between two table rows form runs: fill each run by
    # broadcasting one row and one step instead of gathering a row per output row
    edges = np.flatnonzero(np.diff(lower)) + 1
    for first, stop in zip(np.r_[0, edges], np.r_[edges, len(at)], strict=True):
        row = lower[first]
        run = result[first:stop]
        np.multiply(weight[first:stop, np.newaxis], table[row + 1] - table[row], out=run)
        run += table[row]
    return result


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
        pixels = element_numbers(element, "{*}pixel", source, np.int64)
        values = element_numbers(element, lut_path, source)
        line = int(element_text(element, "{*}line", source))
        if pixels.shape != values.shape or not len(pixels):
            raise GeocolorError(
                f"{source}: noise vector at line {line} has {len(pixels)} pixels "
                f"but {len(values)} values."
            )
        if np.any(np.diff(pixels) < 0):
            raise GeocolorError(f"{source}: noise vector at line {line} has unsorted pixels.")
        vectors.append(RangeNoiseVector(line, pixels, values))
    lines = np.array([vector.line for vector in vectors])
    if not len(vectors) or np.any(np.diff(lines) <= 0):
        raise GeocolorError(f"{source}: noise vectors are missing or not in increasing lines.")
    return tuple(vectors)


def _azimuth_blocks(block_list: ET.Element, source: str) -> tuple[AzimuthNoiseBlock, ...]:
    blocks = []
    for element in block_list:
        lines = element_numbers(element, "{*}line", source, np.int64)
        values = element_numbers(element, "{*}noiseAzimuthLut", source)
        swath = element_text(element, "{*}swath", source)
        if lines.shape != values.shape or not len(lines) or np.any(np.diff(lines) < 0):
            raise GeocolorError(
                f"{source}: azimuth noise vector of {swath} has mismatched or unsorted lines."
            )
        blocks.append(
            AzimuthNoiseBlock(
                swath=swath,
                first_line=int(element_text(element, "{*}firstAzimuthLine", source)),
                first_sample=int(element_text(element, "{*}firstRangeSample", source)),
                last_line=int(element_text(element, "{*}lastAzimuthLine", source)),
                last_sample=int(element_text(element, "{*}lastRangeSample", source)),
                lines=lines,
                values=values,
            )
        )
    return tuple(blocks)


def noise_power(noise: NoiseLuts, row0: int, col0: int, shape: tuple[int, int]) -> np.ndarray:
    """Dense thermal noise (DN²) over the window at ``(row0, col0)`` of ``shape``.

    Only the range vectors bracketing the window's lines are interpolated (each onto
    the window's columns, as their pixel positions may differ), then mixed between
    lines; each azimuth block scales the part of the window it covers.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``.
    """
    height, width = shape
    rows = np.arange(row0, row0 + height)
    cols = np.arange(col0, col0 + width)
    needed = covering_slice(noise.lines, row0, row0 + height - 1)
    vectors = noise.range_vectors[needed]
    along_pixels = np.stack([np.interp(cols, v.pixels, v.values) for v in vectors])
    power = interpolate_rows(noise.lines[needed], along_pixels, rows)
    for block in noise.azimuth_blocks:
        top, bottom = max(block.first_line, row0), min(block.last_line, row0 + height - 1)
        left, right = max(block.first_sample, col0), min(block.last_sample, col0 + width - 1)
        if top > bottom or left > right:
            continue
        factor = np.interp(np.arange(top, bottom + 1), block.lines, block.values)
        window = power[top - row0 : bottom - row0 + 1, left - col0 : right - col0 + 1]
        window *= factor[:, np.newaxis]
    return power
