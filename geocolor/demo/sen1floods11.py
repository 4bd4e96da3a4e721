"""A format-faithful fake copy of Sen1Floods11 v1.1 (hand-labelled chips), for tests.

As ``gsutil -m rsync -r gs://sen1floods11 ROOT`` leaves it:
``v1.1/data/flood_events/HandLabeled/S1Hand/<event>_<id>_S1Hand.tif`` (VV, VH sigma0 dB,
float32, nodata NaN), ``S2Hand/<event>_<id>_S2Hand.tif`` (13 L1C bands B1..B12 with B8A,
uint16 TOA reflectance x 10000) and ``LabelHand/<event>_<id>_LabelHand.tif`` (int16,
-1 nodata), 512 px in EPSG:4326 at about 10 m; and the splits
``v1.1/splits/flood_handlabeled/flood_{train,valid,test,bolivia}_data.csv``, one chip a
line: ``<chip>_S1Hand.tif,<chip>_LabelHand.tif``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from geocolor.demo.public_datasets import s1_db, s2_dn, smooth_field, write_geotiff

HAND_LABELED = Path("v1.1/data/flood_events/HandLabeled")
SPLITS = Path("v1.1/splits/flood_handlabeled")
SPLIT_FILES = {
    "train": "flood_train_data.csv",
    "valid": "flood_valid_data.csv",
    "test": "flood_test_data.csv",
    "bolivia": "flood_bolivia_data.csv",
}
DEGREES = 8.983152841195215e-05
"""About 10 m in degrees of latitude, the chips' pixel size."""


def write_sen1floods11(
    root: Path,
    splits: dict[str, list[str]],
    *,
    unlisted: tuple[str, ...] = (),
    size: int = 512,
    seed: int = 0,
) -> list[str]:
    """Chips named ``<event>_<id>`` listed in ``splits`` (keys of :data:`SPLIT_FILES`).

    ``unlisted`` chips are written but in no split list. Returns every chip written.
    """
    rng = np.random.default_rng(seed)
    chips = [chip for names in splits.values() for chip in names] + list(unlisted)
    for index, chip in enumerate(chips):
        west, north = -65.0 + index * size * DEGREES, -14.0
        field = smooth_field(rng, size)
        s1 = s1_db(field, rng)
        s1[:, :2, :] = np.nan  # the chips' edges often lack S1 data
        label = np.where(field > 0.8, 1, 0).astype(np.int16)
        folder = root / HAND_LABELED
        for kind, data, nodata in (
            ("S1Hand", s1, float("nan")),
            ("S2Hand", s2_dn(field, 13), None),
            ("LabelHand", label[None], -1.0),
        ):
            path = folder / kind / f"{chip}_{kind}.tif"
            write_geotiff(path, data, 4326, west, north, DEGREES, nodata)
    (root / SPLITS).mkdir(parents=True, exist_ok=True)
    for split, file in SPLIT_FILES.items():
        rows = [f"{chip}_S1Hand.tif,{chip}_LabelHand.tif\n" for chip in splits.get(split, [])]
        (root / SPLITS / file).write_text("".join(rows))
    return chips
