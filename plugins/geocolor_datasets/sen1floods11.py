"""Sen1Floods11 v1.1 (Bonafilia et al. 2020: 446 hand-labelled flood chips of 512 px).

ROOT is the copy of the ``gs://sen1floods11`` bucket (holding ``v1.1/``) or its
``v1.1/`` folder. Chips ``data/flood_events/HandLabeled/S1Hand/<chip>_S1Hand.tif``
(VV, VH sigma0 dB, float32, nodata NaN, EPSG:4326 at about 10 m) pair with
``S2Hand/<chip>_S2Hand.tif`` (13 bands of L1C TOA reflectance x 10000, uint16). The
official splits are kept: ``splits/flood_handlabeled/flood_{train,valid,test}_data.csv``
and ``flood_bolivia_data.csv`` (the held-out Bolivia event, as test); without them,
whole flood events are held out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from geocolor.datasets.patches import Candidate, PatchPair, SkippedPair, check_size
from geocolor.errors import GeocolorError
from geocolor_datasets.conventions import DN_SCALE, conventions
from geocolor_datasets.sen12ms import S2_ALL_BANDS

if TYPE_CHECKING:
    from geocolor.prepare.tiling import Split

VERSION_FOLDER = "v1.1"
HAND_LABELED = "data/flood_events/HandLabeled"
SPLITS = "splits/flood_handlabeled"
SPLIT_FILES = {
    "flood_train_data.csv": "TRAIN",
    "flood_valid_data.csv": "VAL",
    "flood_test_data.csv": "TEST",
    "flood_bolivia_data.csv": "TEST",
}
S1_SUFFIX, S2_SUFFIX = "_S1Hand.tif", "_S2Hand.tif"
S1_BANDS = ("VV", "VH")
S2_BANDS = ("B02", "B03", "B04")


class Sen1Floods11:
    """Reader of Sen1Floods11's hand-labelled S1/S2 chips (the labels are not needed)."""

    name = "sen1floods11"
    patch_size = 512
    s1_bands = S1_BANDS
    s2_bands = S2_BANDS

    @property
    def parameters(self) -> dict[str, Any]:
        """Unfiltered sigma0 dB; L1C digital numbers."""
        return conventions("L1C", S1_BANDS)

    def candidates(self, root: str) -> Iterator[Candidate]:
        """Every S1 chip, in name order, held out by flood event (``Bolivia``...)."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        s1_folder = rasters.join(_dataset(root), HAND_LABELED, "S1Hand")
        for file in rasters.list_folder(s1_folder):
            if file.endswith(S1_SUFFIX):
                chip = file.removesuffix(S1_SUFFIX)
                yield Candidate(chip, rasters.join(s1_folder, file), holdout=chip.split("_")[0])

    def official_splits(self, root: str) -> dict[str, Split]:
        """Chip -> split from the split CSVs; empty when ROOT has none."""
        from geocolor.datasets import rasters  # rasterio: imported when used
        from geocolor.prepare.tiling import Split  # dask: imported when used

        folder = rasters.join(_dataset(root), SPLITS)
        lookup: dict[str, Split] = {}
        for file, split in SPLIT_FILES.items():
            path = rasters.join(folder, file)
            if not rasters.exists(path):
                continue
            for line in rasters.read_text(path).splitlines():
                first = line.split(",")[0].strip()
                if not first:
                    continue
                if not first.endswith(S1_SUFFIX):
                    raise GeocolorError(f"{path}: {first!r} is not an S1Hand chip file")
                lookup[first.removesuffix(S1_SUFFIX)] = Split[split]
        return lookup

    def read(self, candidate: Candidate) -> PatchPair | SkippedPair:
        """VV and VH with B02, B03 and B04 of the chip's S2Hand file."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        s1_path = candidate.location
        hand_labeled = s1_path.rsplit("/", 2)[0]
        s2_path = rasters.join(hand_labeled, "S2Hand", f"{candidate.name}{S2_SUFFIX}")
        if not rasters.exists(s2_path):
            return SkippedPair(candidate.name, f"its Sentinel-2 chip {s2_path} is missing")
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
            f"{candidate.name}_S2Hand",
        )


def _dataset(root: str) -> str:
    """The ``v1.1`` folder at or under ``root``, or why ``root`` is not Sen1Floods11."""
    from geocolor.datasets import rasters  # rasterio: imported when used

    for folder in (rasters.join(root, VERSION_FOLDER), root):
        if rasters.exists(rasters.join(folder, HAND_LABELED, "S1Hand")):
            return folder
    raise GeocolorError(f"{root}: not a Sen1Floods11 folder (expected v1.1/{HAND_LABELED}/S1Hand/)")
