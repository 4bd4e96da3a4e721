"""SEN12MS (Sentinel-1, Sentinel-2 and land-cover triplets of 256 px at 10 m).

ROOT holds the season folders as extracted, ``ROIs1158_spring/`` ... ``ROIs2017_winter/``;
each has scene folders ``s1_<n>/``, ``s2_<n>/`` and ``lc_<n>/`` holding
``ROIs1158_spring_s1_<n>_p<k>.tif`` (VV, VH sigma0 dB, float32), the matching ``_s2_``
patch (13 bands of L1C digital numbers, uint16) and ``_lc_`` patch. Splits hold out
whole scenes of a season (a ROI), as the dataset's own benchmarks do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from geocolor.datasets.patches import Candidate, PatchPair, SkippedPair, check_size
from geocolor.errors import GeocolorError
from geocolor_datasets.conventions import DN_SCALE, conventions

SEASON = re.compile(r"^ROIs\d{4}_(spring|summer|fall|winter)$")
S1_SCENE = re.compile(r"^(?:.+_)?s1_(\d+)$")
S1_BANDS = ("VV", "VH")
S2_ALL_BANDS = (
    *("B01", "B02", "B03", "B04", "B05", "B06", "B07"),
    *("B08", "B8A", "B09", "B10", "B11", "B12"),
)
S2_BANDS = ("B02", "B03", "B04")


class Sen12ms:
    """Reader of SEN12MS S1/S2 pairs (the land-cover patch is not needed)."""

    name = "sen12ms"
    patch_size = 256
    s1_bands = S1_BANDS
    s2_bands = S2_BANDS

    @property
    def parameters(self) -> dict[str, Any]:
        """Unfiltered sigma0 dB; L1C digital numbers."""
        return conventions("L1C", S1_BANDS)

    def candidates(self, root: str) -> Iterator[Candidate]:
        """Every S1 patch of every scene of every season, in name order."""
        return season_candidates(root, ".tif", "SEN12MS")

    def read(self, candidate: Candidate) -> PatchPair | SkippedPair:
        """VV and VH with B02, B03 and B04 of the matching ``_s2_`` patch."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        s1_path = candidate.location
        s2_path = s2_partner(candidate)
        if isinstance(s2_path, SkippedPair):
            return s2_path
        s1, s2 = rasters.read_raster(s1_path), rasters.read_raster(s2_path)
        rasters.same_grid(s1, s2, s2_path)
        if s1.data.shape[0] != len(S1_BANDS):
            raise GeocolorError(f"{s1_path}: {s1.data.shape[0]} bands, not VV and VH")
        if s2.data.shape[0] != len(S2_ALL_BANDS):
            raise GeocolorError(f"{s2_path}: {s2.data.shape[0]} bands, not the 13 of L1C")
        wanted = [S2_ALL_BANDS.index(band) for band in S2_BANDS]
        return PatchPair(
            candidate.name,
            check_size(s1.data, self.patch_size, s1_path),
            check_size(s2.data, self.patch_size, s2_path)[wanted] * np.float32(DN_SCALE),
            s1.crs,
            s1.transform,
            s2_name(candidate.name),
        )


def season_candidates(root: str, extension: str, title: str) -> Iterator[Candidate]:
    """The S1 patches ``ROIs<n>_<season>/s1_<n>/..._s1_..._p<k><extension>`` under ``root``.

    Shared by SEN12MS and SEN1-2, which have one layout; a scene of a season is the
    holdout unit. ``title`` names the dataset when ``root`` is not it.
    """
    from geocolor.datasets import rasters  # rasterio: imported when used

    seasons = [name for name in rasters.list_folder(root) if SEASON.match(name)]
    if not seasons:
        raise GeocolorError(
            f"{root}: not a {title} folder (expected ROIs1158_spring/ and other seasons)"
        )
    for season in seasons:
        for scene in rasters.list_folder(rasters.join(root, season)):
            match = S1_SCENE.match(scene)
            if match is None:
                continue
            for file in rasters.list_folder(rasters.join(root, season, scene)):
                if file.endswith(extension):
                    yield Candidate(
                        file.removesuffix(extension),
                        rasters.join(root, season, scene, file),
                        holdout=f"{season}/{match.group(1)}",
                    )


def s2_name(s1_name: str) -> str:
    """The S2 counterpart of an S1 scene folder or patch name (``s1_`` -> ``s2_``)."""
    head, separator, tail = s1_name.rpartition("s1_")
    return f"{head}s2_{tail}" if separator else s1_name


def s2_partner(candidate: Candidate) -> str | SkippedPair:
    """The path of a candidate's ``_s2_`` patch, or the skip saying it is missing.

    Shared by SEN12MS and SEN1-2: the S2 patch sits in the ``s2_<n>/`` scene folder
    beside the S1 one, under the S1 file name with ``s1_`` -> ``s2_``.
    """
    from geocolor.datasets import rasters  # rasterio: imported when used

    folder, file = candidate.location.rsplit("/", 1)
    parent, scene = folder.rsplit("/", 1)
    s2_path = rasters.join(parent, s2_name(scene), s2_name(file))
    if not rasters.exists(s2_path):
        return SkippedPair(candidate.name, f"its Sentinel-2 patch {s2_path} is missing")
    return s2_path
