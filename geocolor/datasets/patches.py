"""What a dataset reader finds and reads: candidate patch pairs and their pixels.

A dataset reader (registered through ``geocolor_register_dataset_readers``) lists the
candidate pairs of a dataset cheaply (names and paths only, so a listing of 590 000
patches stays small) and reads one pair's pixels on a worker. A pair whose partner is
missing is a :class:`SkippedPair`, counted and reported, not an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from geocolor.errors import GeocolorError


@dataclass(frozen=True)
class Candidate:
    """One patch pair as listed, before any pixel is read.

    Attributes
    ----------
    name
        Unique name of the pair in the dataset (its tile's name in the store).
    location
        Where the reader finds the pair (a folder or file path or URL).
    partner_root
        Where the other modality's patches lie, when the reader needs it.
    holdout
        The unit kept whole in one split (a scene, ROI and season) when the dataset
        defines no split of its own; None to split by position (:mod:`.splits`).
    """

    name: str
    location: str
    partner_root: str | None = None
    holdout: str | None = None


@dataclass(frozen=True)
class PatchPair:
    """One pair's pixels on the patch's own grid.

    ``s1`` is (bands, size, size) backscatter in dB, ``s2`` (bands, size, size)
    reflectance, both float32 with NaN for nodata; ``crs`` (WKT) and ``transform``
    (GDAL order, six numbers) place the patch.
    """

    name: str
    s1: np.ndarray
    s2: np.ndarray
    crs: str
    transform: tuple[float, ...]
    partner: str

    def bounds(self) -> tuple[float, float, float, float]:
        """(x_min, y_min, x_max, y_max) of the patch in its CRS."""
        a, b, c, d, e, f = self.transform
        rows, cols = self.s1.shape[1:]
        xs = (c, c + a * cols + b * rows)
        ys = (f, f + d * cols + e * rows)
        return min(xs), min(ys), max(xs), max(ys)


@dataclass(frozen=True)
class SkippedPair:
    """A candidate that cannot be paired (its partner is missing), with why."""

    name: str
    reason: str


class DatasetReader(Protocol):
    """A public dataset, as a plugin registers it.

    Attributes
    ----------
    name
        The ``DATASET`` argument of ``geocolor import``.
    patch_size
        Side of the dataset's patches in pixels (the store's tile size).
    s1_bands, s2_bands
        Band names of the arrays :meth:`read` returns, in order.
    exclude_lists
        Optional: names of the dataset's own lists of patches to leave out (clouds,
        snow), which ``geocolor import`` reads from ROOT when they lie there.
    parameters
        The radiometric conventions of the data: ``{"s1": S1Config keys, "s2": {"level",
        "scale", "offset"}}``, recorded in every pair group.
    """

    name: str
    patch_size: int
    s1_bands: tuple[str, ...]
    s2_bands: tuple[str, ...]

    @property
    def parameters(self) -> dict[str, Any]:
        """The conventions (see above), JSON-ready."""
        ...

    def candidates(self, root: str) -> Iterator[Candidate]:
        """The dataset's pairs under ``root``, sorted; an error when ``root`` is not it."""
        ...

    def read(self, candidate: Candidate) -> PatchPair | SkippedPair:
        """The pair's pixels, or why it is skipped; an error naming a file that is wrong."""
        ...


def check_size(data: np.ndarray, size: int, path: str) -> np.ndarray:
    """``data`` (bands, rows, cols) when ``size`` square, else an error naming ``path``."""
    if data.shape[1:] != (size, size):
        rows, cols = data.shape[1:]
        raise GeocolorError(f"{path}: {cols} x {rows} px, the dataset's patches are {size}")
    return data
