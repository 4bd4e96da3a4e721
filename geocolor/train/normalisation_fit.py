"""Estimating a :class:`~geocolor.models.normalisation.Normalisation` from the prepared store.

The bounds are per-band percentiles of valid pixels in a sample of TRAINING tiles only,
so a few bright outliers (ships, specular returns, sun glint) neither squash the useful
range nor leak information from the validation or test areas. Estimation lives on the
training side because it reads the store; the normalisation itself is plain data that
inference loads without it.
"""

from __future__ import annotations

import numpy as np
import zarr

from geocolor.errors import GeocolorError
from geocolor.models.normalisation import Normalisation
from geocolor.prepare.store import TileTable
from geocolor.prepare.tiling import Split
from geocolor.train.dataset import read_sample, store_layout


def fit_normalisation(
    root: zarr.Group,
    tiles: TileTable,
    percentiles: tuple[float, float] = (1.0, 99.0),
    max_tiles: int = 64,
    seed: int = 0,
) -> Normalisation:
    """Estimate the bounds as percentiles of valid pixels in a sample of training tiles.

    Parameters
    ----------
    root
        The open store.
    tiles
        The tile index; only its TRAIN tiles are read.
    percentiles
        Low and high percentile of each band.
    max_tiles
        Most tiles read, drawn without replacement with ``seed``.

    Raises
    ------
    GeocolorError
        When there is no training tile, no valid pixel in the sample, or a band is
        constant over it (its bounds would coincide).
    """
    layout = store_layout(root)
    train = tiles.of_split(Split.TRAIN)
    if not len(train):
        raise GeocolorError(f"{root.store_path}: no training tiles to estimate normalisation")
    picked = np.sort(np.random.default_rng(seed).permutation(len(train))[: max(max_tiles, 1)])
    sar_pixels, optical_pixels = [], []
    for i in picked:
        s1, s2, valid = read_sample(
            root, str(train.pair[i]), int(train.row[i]), int(train.col[i]), layout.tile_size
        )
        sar_pixels.append(s1[:, valid])
        optical_pixels.append(s2[:, valid])
    sar_all, optical_all = np.concatenate(sar_pixels, 1), np.concatenate(optical_pixels, 1)
    if not sar_all.shape[1]:
        raise GeocolorError(f"{root.store_path}: the sampled training tiles hold no valid pixel")
    sar_low, sar_high = np.percentile(sar_all, percentiles, axis=1)
    optical_low, optical_high = np.percentile(optical_all, percentiles, axis=1)
    for name, low, high in zip(
        (*layout.sar_bands, *layout.optical_bands),
        (*sar_low, *optical_low),
        (*sar_high, *optical_high),
        strict=True,
    ):
        if high <= low:
            raise GeocolorError(
                f"{root.store_path}: band {name} is constant over the training tiles"
            )
    return Normalisation(
        layout.sar_bands,
        tuple(float(v) for v in sar_low),
        tuple(float(v) for v in sar_high),
        layout.optical_bands,
        tuple(float(v) for v in optical_low),
        tuple(float(v) for v in optical_high),
    )
