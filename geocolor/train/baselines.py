"""Baselines every model must beat, fitted on the train split and scored beside it.

Two predictors that need no training loop: the mean training colour (every pixel gets
the mean reflectance of the valid train pixels) and a per-pixel least-squares fit of
each reflectance band on the SAR bands in dB (``a + b·VV + c·VH``). A model's *skill*
is its PSNR minus the linear fit's, on the same tiles: below zero the network has not
learnt more than a pixel-wise regression.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from geocolor.errors import GeocolorError
from geocolor.models.scene_statistics import WindowReader
from geocolor.prepare.store import TileTable, open_store
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import read_sample
from geocolor.train.metrics import DEFAULT_DATA_RANGE
from geocolor.train.scoring import Predictor, score_predictors
from geocolor.train.store_data import StoreData

#: Names of the baselines, as logged: ``{split}_baseline_{name}_{metric}``.
BASELINES = ("mean", "linear")
#: Most train tiles the baselines are fitted on (three parameters a band need few).
FIT_TILES = 256
#: The metric and baseline a model's skill is measured against.
SKILL_METRIC, SKILL_BASELINE = "psnr", "linear"


@dataclass(frozen=True)
class MeanColour:
    """Predicts one reflectance spectrum everywhere."""

    colour: torch.Tensor  # (bands,)

    def start_scene(self, read: WindowReader, shape: tuple[int, int]) -> None:
        """Nothing depends on the scene."""

    def __call__(self, sar_db: torch.Tensor) -> torch.Tensor:
        """The colour over the batch's pixels."""
        batch, _, height, width = sar_db.shape
        return self.colour.view(1, -1, 1, 1).expand(batch, -1, height, width)


@dataclass(frozen=True)
class LinearFit:
    """Each reflectance band as an affine function of the SAR bands (dB), pixel by pixel."""

    coefficients: torch.Tensor  # (1 + sar bands, optical bands): intercept first

    def start_scene(self, read: WindowReader, shape: tuple[int, int]) -> None:
        """Nothing depends on the scene."""

    def __call__(self, sar_db: torch.Tensor) -> torch.Tensor:
        """The fitted reflectance (NaN where a SAR band is)."""
        intercept, slopes = self.coefficients[0], self.coefficients[1:]
        return torch.einsum("bshw,so->bohw", sar_db, slopes) + intercept.view(1, -1, 1, 1)


def fit_baselines(store_path: str, tiles: TileTable, tile_size: int) -> dict[str, Predictor]:
    """The mean colour and the least-squares fit of the valid pixels of ``tiles``.

    The normal equations are accumulated tile by tile in float64, so memory stays that
    of one tile.
    """
    root = open_store(store_path, "r")
    gram: np.ndarray | None = None
    moments: np.ndarray | None = None
    for index in range(len(tiles)):
        sar, optical, valid = read_sample(
            root, str(tiles.pair[index]), int(tiles.row[index]), int(tiles.col[index]), tile_size
        )
        design = np.concatenate([np.ones((1, int(valid.sum()))), sar[:, valid]]).astype(np.float64)
        target = optical[:, valid].T.astype(np.float64)
        if gram is None or moments is None:
            gram = np.zeros((design.shape[0],) * 2)
            moments = np.zeros((design.shape[0], target.shape[1]))
        gram += design @ design.T
        moments += design @ target
    if gram is None or moments is None or gram[0, 0] == 0:
        raise GeocolorError(f"{store_path}: no valid train pixel to fit the baselines on")
    coefficients = np.linalg.lstsq(gram, moments, rcond=None)[0]
    colour = moments[0] / gram[0, 0]
    return {
        "mean": MeanColour(torch.from_numpy(colour).float()),
        "linear": LinearFit(torch.from_numpy(coefficients).float()),
    }


def baseline_scores(
    store: StoreData,
    score_tiles: TileTable,
    *,
    data_range: float = DEFAULT_DATA_RANGE,
    batch_size: int = 4,
) -> dict[str, float]:
    """Metrics on ``score_tiles`` of the baselines fitted on the store's train split.

    At most :data:`FIT_TILES` train tiles, spread evenly, are fitted on: training and
    ``evaluate`` see the same baselines.

    Returns
    -------
    dict
        ``baseline_{mean,linear}_{metric}`` -> mean over the scored tiles.
    """
    tile_size = store.layout.tile_size
    predictors = fit_baselines(store.path, store.split(Split.TRAIN, FIT_TILES), tile_size)
    scores = score_predictors(
        store.path,
        score_tiles,
        tile_size,
        predictors,
        data_range=data_range,
        batch_size=batch_size,
    )
    return {
        f"baseline_{name}_{metric}": value
        for name, metrics in scores.items()
        for metric, value in metrics.items()
    }


def skill(metrics: dict[str, float], baselines: dict[str, float]) -> float:
    """The model's PSNR above the linear baseline's (dB), on the same tiles."""
    return metrics[SKILL_METRIC] - baselines[f"baseline_{SKILL_BASELINE}_{SKILL_METRIC}"]
