"""Scoring predictors on store tiles as ``colorize`` would run them, in reflectance.

Validation, ``evaluate`` and promotion all score through :func:`score_predictors`. A
generator is scored the way ``colorize`` runs it by default: norm layers in ``"scene"``
mode, with statistics pooled over windows of each tile's scene (the store pair) picked
by :func:`~geocolor.models.scene_statistics.statistics_windows`, the rule ``colorize``
uses. Targets are the stored reflectances, unclipped; predictions are what
:meth:`~geocolor.models.logged.LoadedModel.predict` would return.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import zarr
from torch import nn

from geocolor.models.layers import NormMode, kept_norm_modes, set_norm_mode
from geocolor.models.normalisation import Normalisation
from geocolor.models.scene_statistics import (
    WindowReader,
    statistics_windows,
    use_scene_statistics,
)
from geocolor.prepare.store import PAIRS, TileTable, group_array, open_store
from geocolor.train.dataset import read_sample
from geocolor.train.metrics import DEFAULT_DATA_RANGE, MetricMeans, image_metrics


class Predictor(Protocol):
    """Reflectance from SAR dB, told of each scene before its tiles."""

    def start_scene(self, read: WindowReader, shape: tuple[int, int]) -> None:
        """Called before the tiles of a scene (a store pair) whose SAR ``read`` returns."""
        ...

    def __call__(self, sar_db: torch.Tensor) -> torch.Tensor:
        """(B, bands, H, W) reflectance for (B, sar bands, H, W) dB (NaN where no data)."""
        ...


@dataclass
class GeneratorPredictor:
    """A generator run as ``colorize`` runs it, in ``norm`` mode (``"scene"`` or ``"tile"``)."""

    generator: nn.Module
    normalisation: Normalisation
    device: torch.device
    norm: NormMode = "scene"

    def start_scene(self, read: WindowReader, shape: tuple[int, int]) -> None:
        """Pool this scene's statistics by ``colorize``'s rule (in scene mode)."""
        if self.norm == "scene":
            multiple = int(getattr(self.generator, "size_multiple", 1))
            windows = statistics_windows(read, shape, multiple)
            use_scene_statistics(self.generator, self.normalisation, windows, self.device)

    def __call__(self, sar_db: torch.Tensor) -> torch.Tensor:
        """Reflectance as :meth:`LoadedModel.predict` computes it, in this predictor's mode.

        The mode is set per call: a scene and a tile predictor may share one generator.
        """
        set_norm_mode(self.generator, self.norm)
        unit, _ = self.normalisation.sar_to_unit(sar_db.to(self.device))
        return self.normalisation.to_reflectance(self.generator(unit).float())


@torch.no_grad()
def score_predictors(
    store_path: str,
    tiles: TileTable,
    tile_size: int,
    predictors: Mapping[str, Predictor],
    *,
    data_range: float = DEFAULT_DATA_RANGE,
    batch_size: int = 4,
) -> dict[str, dict[str, float]]:
    """Mean metrics of each predictor over ``tiles`` (whole tiles, scene by scene).

    Each tile is read once for every predictor. Generators are scored in eval mode and
    left in training mode or not as they were, with their norm layers in the modes they had.

    Returns
    -------
    dict
        Predictor name -> metric name -> mean over images.
    """
    root = open_store(store_path, "r")
    generators = [p.generator for p in predictors.values() if isinstance(p, GeneratorPredictor)]
    was_training = [generator.training for generator in generators]
    means = {name: MetricMeans() for name in predictors}
    with ExitStack() as restored:
        for generator, training in zip(generators, was_training, strict=True):
            restored.enter_context(kept_norm_modes(generator))
            restored.callback(generator.train, training)
            generator.eval()
        for pair in dict.fromkeys(tiles.pair.tolist()):
            read, shape = pair_reader(root, str(pair))
            for predictor in predictors.values():
                predictor.start_scene(read, shape)
            picked = np.flatnonzero(tiles.pair == pair)
            for start in range(0, picked.size, batch_size):
                sar, target, valid = _read_batch(
                    root, tiles, picked[start : start + batch_size], tile_size
                )
                for name, predictor in predictors.items():
                    pred = predictor(sar)
                    device = pred.device
                    on = valid.to(device)
                    means[name].add(
                        image_metrics(
                            torch.where(on > 0, pred, 0.0),
                            torch.where(on > 0, target.to(device), 0.0),
                            on,
                            data_range,
                        )
                    )
    return {name: mean.means() for name, mean in means.items()}


def score_generator(
    generator: nn.Module,
    normalisation: Normalisation,
    device: torch.device,
    store_path: str,
    tiles: TileTable,
    tile_size: int,
    *,
    data_range: float = DEFAULT_DATA_RANGE,
    batch_size: int = 4,
    tile_norm_too: bool = False,
) -> dict[str, float]:
    """Metrics of ``generator`` run as ``colorize`` runs it (scene statistics).

    With ``tile_norm_too``, the per-tile instance-norm scores come beside, as
    ``tilenorm_{metric}``: the network as it trains, not as it colorizes.
    """
    predictors: dict[str, Predictor] = {
        "scene": GeneratorPredictor(generator, normalisation, device, "scene")
    }
    if tile_norm_too:
        predictors["tile"] = GeneratorPredictor(generator, normalisation, device, "tile")
    scores = score_predictors(
        store_path, tiles, tile_size, predictors, data_range=data_range, batch_size=batch_size
    )
    return scores["scene"] | {
        f"tilenorm_{name}": value for name, value in scores.get("tile", {}).items()
    }


def pair_reader(root: zarr.Group, pair: str) -> tuple[WindowReader, tuple[int, int]]:
    """A window reader of a store pair's SAR on its grid, and the grid's shape.

    Like ``colorize``'s readers, windows reaching beyond the grid are NaN there.
    """
    array = group_array(root, f"{PAIRS}/{pair}/s1")
    bands, height, width = array.shape

    def read(row0: int, col0: int, rows: int, cols: int) -> np.ndarray:
        out = np.full((bands, rows, cols), np.nan, dtype=np.float32)
        bottom, right = min(row0 + rows, height), min(col0 + cols, width)
        if bottom > row0 and right > col0:
            inside = np.asarray(array[:, row0:bottom, col0:right], dtype=np.float32)
            out[:, : bottom - row0, : right - col0] = np.where(np.isfinite(inside), inside, np.nan)
        return out

    return read, (height, width)


def _read_batch(
    root: zarr.Group, tiles: TileTable, indices: np.ndarray, size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """SAR dB, reflectance and validity (B, 1, H, W) of whole tiles."""
    samples = [
        read_sample(root, str(tiles.pair[i]), int(tiles.row[i]), int(tiles.col[i]), size)
        for i in indices
    ]
    sar, optical, valid = (np.stack(part) for part in zip(*samples, strict=True))
    return (
        torch.from_numpy(sar),
        torch.from_numpy(optical),
        torch.from_numpy(valid[:, None].astype(np.float32)),
    )
