"""Gamma-MAP (Lopes et al. 1990): maximum a posteriori with a gamma-distributed scene."""

from __future__ import annotations

import numpy as np

from geocolor.s1.speckle import SpeckleParams
from geocolor.s1.window_stats import Float32Array, keep_nodata, ratio, window_stats
from geocolor_speckle.lee import squared_variation


def gamma_map(block: Float32Array, params: SpeckleParams) -> Float32Array:
    """Estimate each pixel's reflectivity as the MAP of a gamma prior and L-look speckle.

    Three regimes by the window's variation ``Ci`` against ``Cu = 1/sqrt(looks)`` and
    ``Cmax = sqrt(2) Cu``, as SNAP: homogeneous (``Ci <= Cu``) gives the mean, textured
    (``Cu < Ci < Cmax``) the MAP estimate with the prior's order
    ``alpha = (1 + Cu^2) / (Ci^2 - Cu^2)``, and beyond ``Cmax`` (edges, point targets)
    the pixel itself.
    """
    stats = window_stats(block, params.window)
    mean = stats.mean
    variation = squared_variation(stats)
    looks = params.looks
    speckle_variation = 1.0 / looks
    alpha = ratio(
        np.full_like(variation, 1.0 + speckle_variation), variation - speckle_variation, 0.0
    )
    offset = alpha - looks - 1.0
    discriminant = mean * mean * offset * offset + 4.0 * alpha * looks * mean * block
    estimate = ratio(offset * mean + np.sqrt(np.maximum(discriminant, 0.0)), 2.0 * alpha, 0.0)
    textured = np.where(variation < 2.0 * speckle_variation, estimate, block)
    return keep_nodata(block, np.where(variation <= speckle_variation, mean, textured))
