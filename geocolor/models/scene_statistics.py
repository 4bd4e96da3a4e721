"""Which windows of a scene set a generator's ``"scene"`` normalisation statistics.

``colorize`` normalises with statistics pooled over windows sampled from the scene it
colorizes (see :mod:`geocolor.models.layers`). Validation, ``evaluate`` and promotion
score the network exactly as ``colorize`` runs it, so they sample each scene of the
store by this same rule: it lives here, below both.

The rule depends on the scene's grid alone (not on how ``colorize`` tiles it), so two
runs with different tile sizes normalise with the same statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from geocolor.errors import GeocolorError
from geocolor.models.layers import gather_scene_statistics
from geocolor.models.normalisation import Normalisation

#: Side of the windows sampled: the usual training tile.
STATISTICS_WINDOW = 256
#: Most of the scene's pixels the statistics pass may add: it is a cost per scene.
STATISTICS_SHARE = 0.04
#: Windows on the sampling lattice (``colorize``'s ``statistics_tiles`` default).
STATISTICS_TILES = 8
#: A window counts when at least this share of it holds data.
MIN_DATA_SHARE = 0.5

#: Reads (bands, height, width) SAR dB at (row0, col0); NaN beyond the grid or without data.
WindowReader = Callable[[int, int, int, int], np.ndarray]


def statistics_windows(
    read: WindowReader, shape: tuple[int, int], size_multiple: int, tiles: int = STATISTICS_TILES
) -> np.ndarray:
    """The (N, bands, h, w) SAR dB windows whose pooled statistics normalise the scene.

    Parameters
    ----------
    read
        Window reader of the scene on its grid.
    shape
        (height, width) of the grid.
    size_multiple
        The generator's tile-side multiple; windows are rounded up to it.
    tiles
        Windows on the lattice; of those with enough data, as many as the scene's size
        affords (:data:`STATISTICS_SHARE`) are kept, spread evenly.
    """
    window = tuple(_round_up(min(STATISTICS_WINDOW, side), size_multiple) for side in shape)
    height, width = window
    candidates = []
    for row0, col0 in _sample_origins(tiles, (height, width), shape):
        sar = read(row0, col0, height, width)
        inside = sar[:, : shape[0] - row0, : shape[1] - col0]
        if np.isfinite(inside).all(axis=0).mean() >= MIN_DATA_SHARE:
            candidates.append(sar)
    if not candidates:
        raise GeocolorError("scene statistics: no sampled window of the scene holds enough data")
    affordable = max(round(STATISTICS_SHARE * shape[0] * shape[1] / (height * width)), 1)
    picked = np.linspace(0, len(candidates) - 1, min(affordable, len(candidates))).round()
    return np.stack([candidates[int(i)] for i in np.unique(picked)])


def use_scene_statistics(
    generator: nn.Module, normalisation: Normalisation, windows: np.ndarray, device: torch.device
) -> None:
    """Put ``generator``'s norm layers in ``"scene"`` mode with the statistics of ``windows``."""
    batch = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)).to(device)
    gather_scene_statistics(generator, [normalisation.sar_to_unit(batch)[0]])


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _sample_origins(
    count: int, window: tuple[int, int], shape: tuple[int, int]
) -> list[tuple[int, int]]:
    """Up to ``count`` window origins on an even lattice over a grid of ``shape``."""
    per_axis = max(math.ceil(math.sqrt(count)), 1)
    rows = np.linspace(0, max(shape[0] - window[0], 0), per_axis).round().astype(int)
    cols = np.linspace(0, max(shape[1] - window[1], 0), per_axis).round().astype(int)
    lattice = sorted({(int(row), int(col)) for row in rows for col in cols})
    picked = np.linspace(0, len(lattice) - 1, min(count, len(lattice))).round().astype(int)
    return [lattice[index] for index in np.unique(picked)]
