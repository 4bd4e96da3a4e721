"""Receptive-field arithmetic: which input pixels a feature pixel depends on.

A generator's receptive field sets the overlap of tiles at inference, so it is derived
layer by layer from the architecture rather than guessed; the tests check it against
the pixels a perturbation actually reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

from geocolor.config import Upsampling


@dataclass(frozen=True)
class Footprint:
    """Feature pixel ``p`` depends on input pixels ``scale * p + low`` to ``scale * p + high``.

    Valid away from image borders (padding only changes which pixels are reflected in),
    for norms with fixed statistics: per-tile instance statistics make every output
    depend, weakly, on the whole tile.
    """

    scale: int = 1
    low: int = 0
    high: int = 0

    def conv(self, kernel: int, stride: int = 1, padding: int | None = None) -> Footprint:
        """After a convolution; ``padding`` before the first tap, (kernel - 1) // 2 if None."""
        before = (kernel - 1) // 2 if padding is None else padding
        return Footprint(
            self.scale * stride,
            self.low - self.scale * before,
            self.high + self.scale * (kernel - 1 - before),
        )

    def upsample(self, mode: Upsampling) -> Footprint:
        """After x2 upsampling: nearest copies pixel q // 2; bilinear mixes two neighbours."""
        half = self.scale // 2
        if mode == "nearest":
            return Footprint(half, self.low - half, self.high)
        return Footprint(half, self.low - self.scale, self.high + half)

    def union(self, other: Footprint) -> Footprint:
        """Where two branches at the same scale join (skip connections, residuals)."""
        if other.scale != self.scale:
            raise ValueError(f"cannot join scales {self.scale} and {other.scale}")
        return Footprint(self.scale, min(self.low, other.low), max(self.high, other.high))

    @property
    def radius(self) -> int:
        """Pixels of context on the worse side of an output pixel."""
        return max(-self.low, self.high)
