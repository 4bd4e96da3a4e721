"""Which of a model's optical bands are shown as red, green and blue.

Sentinel-2 names its red, green and blue bands B04, B03 and B02; the training preview
and the colorized output both show those, so the choice lives here, beside the models
that predict the bands.
"""

from __future__ import annotations

from collections.abc import Sequence

from geocolor.models.normalisation import Normalisation

#: Sentinel-2 bands shown as red, green and blue.
RGB_BANDS = ("B04", "B03", "B02")


def rgb_band_indices(bands: Sequence[str]) -> tuple[int, int, int] | None:
    """Positions of B04, B03 and B02 in ``bands``; None unless all three are there.

    Each caller decides what to show without them: a preview falls back to the first
    bands, a product to write may refuse.
    """
    if not all(band in bands for band in RGB_BANDS):
        return None
    red, green, blue = (list(bands).index(band) for band in RGB_BANDS)
    return red, green, blue


def white_reflectance(normalisation: Normalisation, shown: Sequence[int]) -> float:
    """The value shown as full brightness: the top of the model's training range.

    A model predicts within its training data's optical range (the normalisation's
    upper percentile, recorded in whatever reflectance scale the store holds), so the
    brightest of the ``shown`` bands' tops is rendered white: bright towns, sand or
    snow of real data keep their detail instead of saturating at a fixed value, and the
    bands share one scale, so colours stay balanced.
    """
    return max(normalisation.optical_high[index] for index in shown)
