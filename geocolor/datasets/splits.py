"""Which split each imported patch goes to.

Official lists win (BigEarthNet's ``train.csv``/``val.csv``/``test.csv``). Otherwise a
dataset's holdout unit (SEN12MS: a ROI in a season) goes whole to one split; otherwise,
as in ``prepare``, patches are grouped by square blocks of ground and a whole block goes
to one split, so neighbouring patches never straddle two splits. Draws hash the unit's
key with the seed, so a patch's split does not depend on which other patches are read.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from geocolor.datasets.rasters import read_text
from geocolor.errors import UsageError
from geocolor.prepare.tiling import Split

LIST_FILES = {"train": Split.TRAIN, "val": Split.VAL, "test": Split.TEST}


@dataclass(frozen=True)
class SplitRule:
    """How patches are split: official lists, else holdout units or ground blocks."""

    official: Mapping[str, Split] = field(default_factory=dict)
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    block_metres: float = 9600.0
    seed: int = 0
    #: Patch names left out whatever the split (a dataset's cloud and snow lists).
    excluded: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if any(f < 0 for f in self.fractions) or not np.isclose(sum(self.fractions), 1.0):
            raise UsageError(f"split fractions {self.fractions} must be non-negative, sum to 1")

    def excludes(self, names: tuple[str, ...]) -> bool:
        """Whether a patch known by ``names`` (its own and its partner's) is excluded."""
        return any(name in self.excluded for name in names)

    def split(
        self,
        names: tuple[str, ...],
        holdout: str | None,
        crs: str,
        bounds: tuple[float, float, float, float],
    ) -> Split | None:
        """The split of a patch known by ``names``; None when official lists omit it.

        A patch missing from official lists is left out, as the lists leave out the
        patches their authors found covered by cloud, shadow or snow.
        """
        if self.official:
            for name in names:
                if name in self.official:
                    return self.official[name]
            return None
        if holdout is not None:
            return self._draw(holdout)
        x_min, y_min, _, _ = bounds
        block = (math.floor(x_min / self.block_metres), math.floor(y_min / self.block_metres))
        return self._draw(f"{crs}|{block[0]}|{block[1]}")

    def _draw(self, key: str) -> Split:
        digest = hashlib.sha256(f"{self.seed}|{key}".encode()).digest()
        uniform = int.from_bytes(digest[:8], "big") / 2**64
        edges = np.cumsum(self.fractions)[:-1]
        return Split(int(np.searchsorted(edges, uniform, side="right")))


def read_split_lists(folder: str) -> dict[str, Split]:
    """Patch name -> split from ``train.csv``, ``val.csv`` and ``test.csv`` in ``folder``.

    Each file lists one patch per line, its first comma-separated field the patch name
    (BigEarthNet's lists name the Sentinel-2 patch, or S2 and S1 patch side by side).
    """
    lookup: dict[str, Split] = {}
    for stem, split in LIST_FILES.items():
        path = f"{folder.rstrip('/')}/{stem}.csv"
        try:
            text = read_text(path)
        except FileNotFoundError:
            raise UsageError(
                f"{path}: no such split list (--split-lists needs {stem}.csv)"
            ) from None
        for line in str(text).splitlines():
            for name in line.strip().split(","):
                if name.strip():
                    lookup[name.strip()] = split
    if not lookup:
        raise UsageError(f"{folder}: the split lists name no patch")
    return lookup


def read_name_list(path: str) -> set[str]:
    """The patch names of a list file: the first comma-separated field of each line.

    BigEarthNet's ``patches_with_cloud_and_shadow.csv`` and
    ``patches_with_seasonal_snow.csv`` name one Sentinel-2 patch per line, without a
    header; the copies on Zenodo are gzipped (``.csv.gz``), read as they are.
    """
    try:
        text = read_text(path)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such patch list") from None
    names = {line.split(",")[0].strip() for line in text.splitlines()}
    names.discard("")
    return names


def exclude_lists_in(root: str, names: tuple[str, ...]) -> list[str]:
    """The list files called ``names`` (or ``names`` + ``.gz``) found directly in ``root``."""
    from geocolor.datasets.rasters import exists, join

    found = []
    for name in names:
        for candidate in (join(root, name), join(root, f"{name}.gz")):
            if exists(candidate):
                found.append(candidate)
                break
    return found
