"""SEN1-2 (Schmitt et al. 2018: 282 384 Sentinel-1/Sentinel-2 pairs of 256 px PNGs).

ROOT holds the season folders as extracted, ``ROIs1158_spring/`` ... ``ROIs2017_winter/``,
each with scene folders ``s1_<n>/`` and ``s2_<n>/`` of ``ROIs1158_spring_s1_<n>_p<k>.png``
and the matching ``_s2_`` patch. The PNGs carry no georeference: the store records
their coordinates as pixels (CRS ``""``), ``parameters.georeferenced`` false, and splits
hold out whole scenes of a season, as for SEN12MS. S1 is one 8-bit channel, VV sigma0
dB clipped to [-25, 0] and stretched to 0..255, read back to dB (to 0.1 dB, the 8-bit
step); S2 is an 8-bit RGB rendering (B04, B03, B02) of L1C, stored as the fraction
of its display range (value / 255), not as reflectance. The PNGs carry no scale of
their own: the dB range is the one the dataset's paper describes, and it is recorded
in ``parameters.s1.quantisation`` so a store says what it assumed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from geocolor.datasets.patches import Candidate, PatchPair, SkippedPair, check_size
from geocolor.errors import GeocolorError
from geocolor_datasets.conventions import conventions
from geocolor_datasets.sen12ms import s2_name, s2_partner, season_candidates

DB_RANGE = (-25.0, 0.0)
"""The dB range stretched onto 0..255 in SEN1-2's S1 PNGs."""
DISPLAY_SCALE = 1.0 / 255.0
S1_BANDS = ("VV",)
S2_BANDS = ("B02", "B03", "B04")


class Sen1_2:  # noqa: N801 - the dataset's own name
    """Reader of SEN1-2 S1/S2 PNG pairs."""

    name = "sen1-2"
    patch_size = 256
    s1_bands = S1_BANDS
    s2_bands = S2_BANDS

    @property
    def parameters(self) -> dict[str, Any]:
        """Unfiltered VV sigma0 dB from 8 bits over [-25, 0]; 8-bit RGB display values."""
        recorded = conventions("L1C", S1_BANDS)
        recorded["s1"]["quantisation"] = {"bits": 8, "db_range": list(DB_RANGE)}
        recorded["s2"] = {
            "level": "L1C",
            "scale": DISPLAY_SCALE,
            "offset": 0.0,
            "quantisation": {"bits": 8, "values": "display (RGB rendering), not reflectance"},
        }
        recorded["georeferenced"] = False
        return recorded

    def candidates(self, root: str) -> Iterator[Candidate]:
        """Every S1 PNG of every scene of every season, in name order."""
        return season_candidates(root, ".png", "SEN1-2")

    def read(self, candidate: Candidate) -> PatchPair | SkippedPair:
        """VV dB and B02, B03, B04 display values of the matching ``_s2_`` PNG."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        s1_path = candidate.location
        s2_path = s2_partner(candidate)
        if isinstance(s2_path, SkippedPair):
            return s2_path
        s1 = rasters.read_raster(s1_path, georeferenced=False)
        s2 = rasters.read_raster(s2_path, georeferenced=False)
        if s1.data.shape[0] != 1:
            raise GeocolorError(f"{s1_path}: {s1.data.shape[0]} channels, not SEN1-2's one (VV)")
        if s2.data.shape[0] != 3:
            raise GeocolorError(f"{s2_path}: {s2.data.shape[0]} channels, not SEN1-2's RGB")
        low, high = DB_RANGE
        vv = check_size(s1.data, self.patch_size, s1_path) * np.float32((high - low) / 255.0)
        rgb = check_size(s2.data, self.patch_size, s2_path)
        return PatchPair(
            candidate.name,
            vv + np.float32(low),
            rgb[::-1] * np.float32(DISPLAY_SCALE),  # R, G, B -> B02, B03, B04
            s1.crs,
            s1.transform,
            s2_name(candidate.name),
        )
