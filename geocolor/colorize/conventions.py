"""Bringing a processed scene to the state the model's training data was in, or refusing.

A raw product goes through the same Sentinel-1 chain as the training data, so it needs
nothing here. A processed raster arrives as some processor left it, and its tags say
how (:func:`geocolor.s1.conventions.recorded_processing`):

- dB and linear power are converted into each other (the raster reader does it);
- sigma0, gamma0 and beta0 are not (that needs the incidence angle and the terrain),
  so another measure than the model's is refused;
- speckle: an unfiltered raster gets the model's filter when the training data was
  filtered; a filtered one fed to a model trained on unfiltered data is refused, as
  filtering cannot be undone; a raster that does not say is used as it is, never
  filtered on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from geocolor.errors import GeocolorError
from geocolor.s1.speckle import NO_FILTER

log = logging.getLogger("geocolor.colorize.conventions")


def check_measure(descriptions: Sequence[str], measure: str, path: str) -> None:
    """Refuse a raster whose bands hold another backscatter measure than ``measure``."""
    held = {text.split()[1] for text in descriptions if len(text.split()) == 3}
    other = sorted(held - {measure})
    if other:
        raise GeocolorError(
            f"{path}: holds {', '.join(other)} backscatter, but the model was trained on"
            f" {measure}, which it cannot be converted to; give a {measure} scene or the"
            " GRD product"
        )


def speckle_to_apply(
    recorded: Mapping[str, Any] | None, trained: Mapping[str, Any] | None, path: str
) -> str | None:
    """The speckle filter to run on a processed raster before the model sees it.

    Parameters
    ----------
    recorded
        What the raster's tags say it went through; None when they say nothing.
    trained
        The model's Sentinel-1 settings (``sar_processing``); None when unknown.
    path
        The scene, named in messages.

    Returns
    -------
    str or None
        The model's filter when the training data was filtered and the raster says it
        is not; None when nothing is to be done.

    Raises
    ------
    GeocolorError
        When the raster is filtered and the training data was not.
    """
    wanted = (trained or {}).get("speckle")
    applied = (recorded or {}).get("speckle")
    if wanted is None:
        return None
    if applied is None:
        if wanted != NO_FILTER:
            log.warning(
                "%s does not say whether it is speckle-filtered; used as it is (the model"
                " was trained on %s-filtered data)",
                path,
                wanted,
            )
        return None
    if applied == NO_FILTER:
        return None if wanted == NO_FILTER else str(wanted)
    if wanted == NO_FILTER:
        raise GeocolorError(
            f"{path}: is speckle-filtered ({applied}), but the model was trained on unfiltered"
            " backscatter and filtering cannot be undone; give an unfiltered scene or the"
            " GRD product"
        )
    if (applied, (recorded or {}).get("window")) != (wanted, (trained or {}).get("window")):
        log.warning(
            "%s was filtered with %s (window %s), the training data with %s (window %s)",
            path,
            applied,
            (recorded or {}).get("window"),
            wanted,
            (trained or {}).get("window"),
        )
    return None
