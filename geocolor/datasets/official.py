"""A dataset's own train/val/test lists, for readers whose dataset ships them.

A reader with an ``official_splits(root)`` method (Sen1Floods11's split CSVs) gives the
split of each patch it names; ``--split-lists`` still wins, and a reader without one
falls back to holdout units or ground blocks (:class:`~geocolor.datasets.splits.SplitRule`).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from geocolor.prepare.tiling import Split


@runtime_checkable
class HasOfficialSplits(Protocol):
    """A dataset reader that finds the dataset's split lists under its ROOT."""

    def official_splits(self, root: str) -> dict[str, Split]:
        """Patch name -> split; empty when ``root`` holds no lists."""
        ...


def dataset_splits(reader: object, root: str) -> dict[str, Split]:
    """The official splits ``reader`` finds under ``root``, else none."""
    return reader.official_splits(root) if isinstance(reader, HasOfficialSplits) else {}
