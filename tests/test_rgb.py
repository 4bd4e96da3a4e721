from __future__ import annotations

from geocolor.models.rgb import RGB_BANDS, rgb_band_indices


def test_red_green_blue_are_found_wherever_they_sit() -> None:
    bands = ("B08", "B02", "B03", "B04")
    indices = rgb_band_indices(bands)
    assert indices == (3, 2, 1)
    assert indices is not None and tuple(bands[i] for i in indices) == RGB_BANDS


def test_without_all_three_there_is_no_choice() -> None:
    assert rgb_band_indices(("B04", "B03", "B08")) is None
    assert rgb_band_indices(()) is None
