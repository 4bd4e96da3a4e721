"""BigEarthNet v1.0 (Sentinel-1 and Sentinel-2 patches of 120 px at 10 m over Europe).

ROOT holds the S1 and S2 archives as extracted, side by side: ``BigEarthNet-S1-v1.0/``
and ``BigEarthNet-v1.0/`` (or the ``BigEarthNet-S1-Example/`` and
``BigEarthNet-S2-Example/`` folders). An S1 patch folder holds ``<name>_VV.tif`` and
``<name>_VH.tif`` (float32 sigma0 dB) and ``<name>_labels_metadata.json``, whose
``corresponding_s2_patch`` names the S2 patch folder, which holds ``<name>_B01.tif`` ...
``<name>_B12.tif`` (uint16 L2A digital numbers; B02, B03 and B04 at 10 m, 120 px).
``patches_with_cloud_and_shadow.csv`` and ``patches_with_seasonal_snow.csv`` in ROOT
name the S2 patches to leave out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np

from geocolor.datasets.patches import Candidate, PatchPair, SkippedPair, check_size
from geocolor.errors import GeocolorError
from geocolor_datasets.conventions import DN_SCALE, conventions

LAYOUTS = (
    ("BigEarthNet-S1-v1.0", "BigEarthNet-v1.0"),
    ("BigEarthNet-S1-Example", "BigEarthNet-S2-Example"),
)
S2_BANDS = ("B02", "B03", "B04")
S1_BANDS = ("VV", "VH")
PARTNER_KEY = "corresponding_s2_patch"
# the Sentinel-2 patches the authors found covered by clouds and shadows or seasonal snow,
# one name per line, downloaded beside the archives (bigearth.net, Zenodo: .csv.gz)
EXCLUDE_LISTS = ("patches_with_cloud_and_shadow.csv", "patches_with_seasonal_snow.csv")


class BigEarthNet:
    """Reader of BigEarthNet v1.0 S1+S2 pairs, one pair per S1 patch."""

    name = "bigearthnet"
    patch_size = 120
    s1_bands = S1_BANDS
    s2_bands = S2_BANDS
    exclude_lists = EXCLUDE_LISTS

    @property
    def parameters(self) -> dict[str, Any]:
        """Unfiltered sigma0 dB; L2A digital numbers."""
        return conventions("L2A", S1_BANDS)

    def candidates(self, root: str) -> Iterator[Candidate]:
        """Every S1 patch folder, in name order, with the S2 archive it pairs into."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        s1_root, s2_root = _archives(root)
        for name in rasters.list_folder(s1_root):
            yield Candidate(name, rasters.join(s1_root, name), partner_root=s2_root)

    def read(self, candidate: Candidate) -> PatchPair | SkippedPair:
        """VV and VH with B02, B03 and B04 of the S2 patch its metadata names."""
        from geocolor.datasets import rasters  # rasterio: imported when used

        folder, name = candidate.location, candidate.name
        metadata_path = rasters.join(folder, f"{name}_labels_metadata.json")
        try:
            metadata = json.loads(rasters.read_text(metadata_path))
        except FileNotFoundError:
            return SkippedPair(name, f"no {name}_labels_metadata.json")
        except json.JSONDecodeError as exc:
            raise GeocolorError(f"{metadata_path}: not JSON ({exc})") from None
        partner = metadata.get(PARTNER_KEY) if isinstance(metadata, dict) else None
        if not isinstance(partner, str) or not partner:
            raise GeocolorError(f"{metadata_path}: no {PARTNER_KEY}")
        assert candidate.partner_root is not None
        s2_folder = rasters.join(candidate.partner_root, partner)
        if not rasters.exists(s2_folder):
            return SkippedPair(name, f"its Sentinel-2 patch {partner} is missing")
        s1_paths = [rasters.join(folder, f"{name}_{band}.tif") for band in S1_BANDS]
        s2_paths = [rasters.join(s2_folder, f"{partner}_{band}.tif") for band in S2_BANDS]
        s1 = [rasters.read_raster(path) for path in s1_paths]
        s2 = [rasters.read_raster(path) for path in s2_paths]
        for raster, path in zip(s1[1:] + s2, s1_paths[1:] + s2_paths, strict=True):
            rasters.same_grid(s1[0], raster, path)
        size = self.patch_size
        return PatchPair(
            name,
            np.concatenate(
                [check_size(r.data, size, p) for r, p in zip(s1, s1_paths, strict=True)]
            ),
            np.concatenate([check_size(r.data, size, p) for r, p in zip(s2, s2_paths, strict=True)])
            * np.float32(DN_SCALE),
            s1[0].crs,
            s1[0].transform,
            partner,
        )


def _archives(root: str) -> tuple[str, str]:
    """The S1 and S2 archive folders under ``root``, or why it is not BigEarthNet."""
    from geocolor.datasets import rasters  # rasterio: imported when used

    for s1_name, s2_name in LAYOUTS:
        if rasters.exists(rasters.join(root, s1_name)):
            if not rasters.exists(rasters.join(root, s2_name)):
                raise GeocolorError(f"{rasters.join(root, s2_name)}: missing beside {s1_name}/")
            return rasters.join(root, s1_name), rasters.join(root, s2_name)
    expected = " or ".join(f"{s1}/ and {s2}/" for s1, s2 in LAYOUTS)
    raise GeocolorError(f"{root}: not a BigEarthNet folder (expected {expected})")
