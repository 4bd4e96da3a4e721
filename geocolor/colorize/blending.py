"""Overlapping inference tiles over a scene, and the weights that blend them seam-free.

Tiles step by ``tile - overlap``; inside each overlap a raised-cosine ramp hands one
tile over to the next (sin² rising where cos² falls, so two neighbours' weights add up
to one), and a tile is flat in its interior and at the scene's edges. The weights of a
2-D tile are the outer product of its row and column weights, so they too add up to
one; dividing by their sum (:func:`weight_sum`) keeps that true for overlaps wider
than half a tile, where three tiles meet.

The last tile along an axis is only as long as what remains (rounded up to the
backend's size multiple, and at least two overlaps for a flat interior), so the pixels
pushed through the model stay close to ``(tile / stride)²`` times the scene's, not the
``(n * tile / length)²`` of same-size tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Span:
    """One tile's extent along an axis; ``size`` exceeds the axis only when it is padded."""

    start: int
    size: int

    @property
    def stop(self) -> int:
        """One past the last pixel."""
        return self.start + self.size


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``value``."""
    return -(-value // multiple) * multiple


def axis_spans(length: int, tile: int, overlap: int, multiple: int = 1) -> list[Span]:
    """Tiles covering ``length`` pixels: stride ``tile - overlap``, a short last tile.

    Parameters
    ----------
    length
        Pixels along the axis.
    tile
        Tile side (a multiple of ``multiple``).
    overlap
        Pixels shared by neighbouring tiles (less than ``tile``).
    multiple
        Every tile size is a multiple of this (the generator's downsampling factor).
    """
    if length < 1:
        raise ValueError(f"the axis must hold a pixel, got length {length}")
    if tile % multiple or not 0 <= overlap < tile:
        raise ValueError(
            f"tile {tile} must be a multiple of {multiple} and exceed overlap {overlap}"
        )
    if length <= tile:
        return [Span(0, round_up(length, multiple))]
    stride = tile - overlap
    shortest = min(tile, round_up(2 * overlap + 1, multiple))
    spans = [Span(0, tile)]
    while spans[-1].stop < length:
        start = spans[-1].start + stride
        if start + tile >= length:
            size = min(max(round_up(length - start, multiple), shortest), length)
            size -= size % multiple
            spans.append(Span(length - size, size))
        else:
            spans.append(Span(start, tile))
    return spans


def _rise(width: int) -> np.ndarray:
    """sin² from near 0 to near 1 over ``width`` pixels; reversed it is the matching cos²."""
    return np.sin(np.pi / 2 * (np.arange(width) + 0.5) / width) ** 2


def axis_weights(spans: list[Span], overlap: int) -> list[np.ndarray]:
    """Each span's 1-D blend weights: 1, with a hand-over to each neighbour.

    The hand-over between consecutive tiles is the last ``overlap`` pixels of the first
    (fewer if they share fewer): there the first falls as cos² while the second rises as
    sin², and before it the second weighs 0. Both tiles thus hand over at the same
    pixels, and the weights of an axis add up to one, even next to a shifted last tile.
    """
    weights = [np.ones(span.size, dtype=np.float64) for span in spans]
    for index in range(1, len(spans)):
        previous, current = spans[index - 1], spans[index]
        width = min(overlap, previous.stop - current.start)
        if width <= 0:
            continue
        rise = _rise(width)
        start = previous.stop - width - current.start
        weights[index][:start] = 0.0
        weights[index][start : start + width] *= rise
        weights[index - 1][previous.size - width :] *= rise[::-1]
    return weights


def weight_sum(spans: list[Span], weights: list[np.ndarray], length: int) -> np.ndarray:
    """Sum of every span's weight at each pixel of the axis (1 where overlaps are even)."""
    total = np.zeros(length, dtype=np.float64)
    for span, weight in zip(spans, weights, strict=True):
        stop = min(span.stop, length)
        total[span.start : stop] += weight[: stop - span.start]
    return total


def pushed_pixels(rows: list[Span], cols: list[Span]) -> int:
    """Pixels the plan pushes through the model."""
    return sum(span.size for span in rows) * sum(span.size for span in cols)


def redundancy(rows: list[Span], cols: list[Span], height: int, width: int) -> float:
    """Pixels pushed through the model divided by the scene's pixels."""
    return pushed_pixels(rows, cols) / (height * width)


def default_overlap(receptive_field: int, tile: int, multiple: int) -> int:
    """The receptive field, rounded to the size multiple and capped at a quarter tile.

    Past the receptive field a fixed-statistics network's tile edge no longer reaches
    the ramp's centre; past a quarter tile the redundancy passes 1.8.
    """
    return min(round_up(max(receptive_field, 1), multiple), tile // 4)
