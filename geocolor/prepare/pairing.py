"""Pairing Sentinel-1 and Sentinel-2 products by footprint overlap and time difference.

A Sentinel-1 product is any scene :func:`geocolor.s1.source.open_s1` opens (a GRD SAFE,
a processed backscatter raster...); each carries a product id, a start time and a footprint.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import fsspec

from geocolor.errors import UsageError
from geocolor.io.filesystems import glob_paths
from geocolor.s1.source import S1Source
from geocolor.s2.product import S2Product

_LISTING_SUFFIXES = (".txt", ".lst", ".list")


@dataclass(frozen=True)
class Pair:
    """A Sentinel-2 product and the Sentinel-1 product that best matches it."""

    s1: S1Source
    s2: S2Product
    overlap: float
    days_apart: float

    @property
    def pair_id(self) -> str:
        """Stable, readable group name: S2 tile and date, then the S1 product's unique id."""
        s2 = self.s2.info
        when = s2.sensing_time.strftime("%Y%m%d") if s2.sensing_time else "undated"
        tile = s2.tile_id or s2.product_id
        s1_unique = self.s1.info.product_id.split("_")[-1]
        s1_when = self.s1.info.start_time.strftime("%Y%m%dT%H%M%S")
        return f"T{tile}_{when}__S1_{s1_when}_{s1_unique}"


def expand_inputs(values: Sequence[str], what: str) -> list[str]:
    """Paths, globs or listing files (one path per line, # comments) -> paths."""
    paths: list[str] = []
    for value in values:
        if value.endswith(_LISTING_SUFFIXES):
            try:
                with fsspec.open(value, "r", encoding="utf-8") as handle:
                    lines = [line.strip() for line in handle]
            except OSError:
                raise UsageError(f"{value}: cannot read the {what} listing file") from None
            paths.extend(line for line in lines if line and not line.startswith("#"))
        elif glob.has_magic(value):
            matches = glob_paths(value)
            if not matches:
                raise UsageError(f"{value}: no {what} product matches this pattern")
            paths.extend(matches)
        else:
            paths.append(value)
    if not paths:
        raise UsageError(f"no {what} products given")
    return paths


def _days_apart(a: datetime, b: datetime | None) -> float:
    if b is None:
        return 0.0
    return abs((a - b.replace(tzinfo=a.tzinfo)).total_seconds()) / 86400.0


def pair_products(
    s1_products: Sequence[S1Source],
    s2_products: Sequence[S2Product],
    max_days: float,
) -> tuple[list[Pair], list[str]]:
    """For each S2 product, the overlapping S1 product closest in time within ``max_days``.

    Returns
    -------
    pairs, reasons
        The pairs, and one line per S2 product that found no partner, saying why.
    """
    pairs: list[Pair] = []
    reasons: list[str] = []
    for s2 in s2_products:
        footprint = s2.footprint()
        candidates = []
        nearest_days = None
        for s1 in s1_products:
            overlap = s1.footprint().intersection(footprint).area / footprint.area
            if overlap <= 0:
                continue
            days = _days_apart(s1.info.start_time, s2.info.sensing_time)
            nearest_days = days if nearest_days is None else min(nearest_days, days)
            if days <= max_days:
                candidates.append(Pair(s1, s2, overlap, days))
        if candidates:
            pairs.append(min(candidates, key=lambda p: (p.days_apart, -p.overlap)))
        elif nearest_days is None:
            reasons.append(f"{s2.info.product_id}: no Sentinel-1 product overlaps it")
        else:
            reasons.append(
                f"{s2.info.product_id}: the nearest overlapping Sentinel-1 product is "
                f"{nearest_days:.1f} days away (--max-days {max_days:g})"
            )
    return pairs, reasons
