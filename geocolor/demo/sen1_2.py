"""A format-faithful fake copy of SEN1-2 (Schmitt et al. 2018), for tests.

``ROIs<n>_<season>/s1_<scene>/ROIs<n>_<season>_s1_<scene>_p<k>.png`` with the matching
``s2_<scene>/..._s2_..._p<k>.png``: 256 px 8-bit PNGs without georeference. S1 is one
channel, VV sigma0 dB clipped to [-25, 0] and stretched linearly to 0..255; S2 is an
RGB image (B04, B03, B02) of 8-bit display values.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning

from geocolor.demo.public_datasets import SEN12MS_SEASONS, s1_db, smooth_field

SEN1_2_DB_RANGE = (-25.0, 0.0)
"""The dB range SEN1-2 stretched onto 0..255 (VV only)."""


def vv_to_png(db: np.ndarray) -> np.ndarray:
    """VV dB as SEN1-2 stores it: clipped to :data:`SEN1_2_DB_RANGE`, 8-bit."""
    low, high = SEN1_2_DB_RANGE
    scaled: np.ndarray = np.round((np.clip(db, low, high) - low) / (high - low) * 255.0)
    return scaled.astype(np.uint8)


def _write_png(path: Path, data: np.ndarray) -> None:
    bands, rows, cols = data.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # as the dataset's PNGs
        with rasterio.open(
            path, "w", driver="PNG", width=cols, height=rows, count=bands, dtype="uint8"
        ) as dst:
            dst.write(data)


def write_sen1_2(
    root: Path, scenes: int, patches: int, *, seasons: int = 1, size: int = 256, seed: int = 0
) -> list[Path]:
    """SEN1-2 season folders of ``scenes`` scenes of ``patches`` pairs; returns the S1 PNGs."""
    rng = np.random.default_rng(seed)
    written = []
    for season in SEN12MS_SEASONS[:seasons]:
        for scene in range(1, scenes + 1):
            s1_folder, s2_folder = root / season / f"s1_{scene}", root / season / f"s2_{scene}"
            s1_folder.mkdir(parents=True, exist_ok=True)
            s2_folder.mkdir(parents=True, exist_ok=True)
            for k in range(1, patches + 1):
                field = smooth_field(rng, size)
                vv = s1_db(field, rng)[:1]
                # red, green, blue: brighter where the field is high, red the brightest
                rgb = 40.0 + np.array([60.0, 45.0, 30.0])[:, None, None] + 120.0 * field[None]
                s1_path = s1_folder / f"{season}_s1_{scene}_p{k}.png"
                _write_png(s1_path, vv_to_png(vv))
                _write_png(s2_folder / f"{season}_s2_{scene}_p{k}.png", rgb.astype(np.uint8))
                written.append(s1_path)
    return written
