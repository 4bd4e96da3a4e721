"""The radiometric conventions of the public datasets, as stores record them."""

from __future__ import annotations

from typing import Any

DN_SCALE = 1e-4
"""Sentinel-2 digital numbers to reflectance (``BOA/QUANTIFICATION_VALUE`` 10000)."""


def conventions(level: str, polarisations: tuple[str, ...]) -> dict[str, Any]:
    """``parameters`` of a dataset's pairs: unfiltered sigma0 dB, S2 DN scaled by 1e-4.

    Both datasets predate processing baseline 04.00, so their reflectance has no offset.
    """
    from geocolor.s1.backscatter import S1Config  # dask: imported when used

    s1 = S1Config(speckle="none", polarisations=polarisations)
    return {
        "s1": s1.model_dump(mode="json"),
        "s2": {"level": level, "scale": DN_SCALE, "offset": 0.0},
        "resolution": 10,
    }
