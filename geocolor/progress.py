"""Progress reporting for long work (tiles, scenes, epochs) that ``--quiet`` silences."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Never, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar in this process."""
    _state["quiet"] = quiet


def is_quiet() -> bool:
    """Whether progress output is silenced."""
    return _state["quiet"]


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str, unit: str = "it"
) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar on stderr unless quiet."""
    yield from tqdm(iterable, total=total, desc=desc, unit=unit, disable=is_quiet(), leave=False)


@contextmanager
def progress_bar(total: int | None, *, desc: str, unit: str = "it") -> Iterator[tqdm[Never]]:
    """A bar to advance by hand (``bar.update(n)``), for work driven by callbacks."""
    bar = tqdm(total=total, desc=desc, unit=unit, disable=is_quiet(), leave=False)
    try:
        yield bar
    finally:
        bar.close()


def note(message: str) -> None:
    """One line on stderr for the user (a fallback taken, data assumed) unless quiet."""
    if not is_quiet():
        print(message, file=sys.stderr)
