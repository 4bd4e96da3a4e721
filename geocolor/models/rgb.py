"""Which of a model's optical bands are shown as red, green and blue.

Sentinel-2 names its red, green and blue bands B04, B03 and B02; the training preview
and the colorized output both show those, so the choice lives here, beside the models
that predict the bands.
"""

from __future__ import annotations

from collections.abc import Sequence

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
