"""Format-faithful fake copies of BigEarthNet v1.0 and SEN12MS, for tests and benchmarks.

Names, folder layouts, dtypes, band counts and sizes, CRSs (UTM) and metadata files follow
the real archives; the pixels are a smooth field that both modalities see, so a model
can learn something from them. Written with rasterio, one small GeoTIFF per file as the
datasets ship them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS

BEN_S1 = "BigEarthNet-S1-Example"
BEN_S2 = "BigEarthNet-S2-Example"
BEN_S2_BANDS = {  # band: side in pixels (10 m: 120, 20 m: 60, 60 m: 20)
    **dict.fromkeys(("B02", "B03", "B04", "B08"), 120),
    **dict.fromkeys(("B05", "B06", "B07", "B8A", "B11", "B12"), 60),
    **dict.fromkeys(("B01", "B09"), 20),
}
SEN12MS_SEASONS = ("ROIs1158_spring", "ROIs1868_summer", "ROIs1970_fall", "ROIs2017_winter")
PATCH_METRES = 1200.0


@dataclass(frozen=True)
class FakePatch:
    """Where a fake patch lies and what it shows (a smooth field in [0, 1])."""

    epsg: int
    west: float
    north: float
    field: np.ndarray

    @property
    def corner(self) -> tuple[int, float, float]:
        """EPSG code, west and north: where :func:`write_geotiff` places the patch."""
        return self.epsg, self.west, self.north


def smooth_field(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random field in [0, 1] (a few low-frequency waves)."""
    y, x = np.mgrid[0:size, 0:size] / size
    field = np.zeros((size, size))
    for _ in range(3):
        fy, fx, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 6.3)
        field += np.sin(2 * np.pi * (fy * y + fx * x) + phase)
    scaled: np.ndarray = (field - field.min()) / max(float(np.ptp(field)), 1e-6)
    return scaled


def write_geotiff(
    path: Path,
    data: np.ndarray,
    epsg: int,
    west: float,
    north: float,
    pixel: float,
    nodata: float | None = None,
) -> None:
    """``data`` (bands, rows, cols) as a north-up GeoTIFF whose top-left corner is
    (``west``, ``north``) in EPSG ``epsg``, ``pixel`` units a side; creates its folder."""
    bands, rows, cols = data.shape
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=cols,
        height=rows,
        count=bands,
        dtype=data.dtype,
        crs=CRS.from_epsg(epsg),
        transform=Affine(pixel, 0.0, west, 0.0, -pixel, north),
        nodata=nodata,
    ) as dst:
        dst.write(data)


def s1_db(field: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """VV and VH sigma0 in dB: brighter where the field is high, VH ~7 dB below VV."""
    vv = -18.0 + 12.0 * field + rng.normal(0, 1.0, field.shape)
    return np.stack([vv, vv - 7.0]).astype(np.float32)


def s2_dn(field: np.ndarray, bands: int) -> np.ndarray:
    """Digital numbers (reflectance x 10000) of ``bands`` bands that follow the field."""
    levels = 600.0 + np.arange(bands)[:, None, None] * 150.0
    return (levels + 2500.0 * field[None]).astype(np.uint16)


def write_bigearthnet(
    root: Path, count: int, *, missing_s2: int = 0, seed: int = 0, first: int = 0
) -> list[str]:
    """The example layout (``BigEarthNet-S1-Example/``, ``BigEarthNet-S2-Example/``).

    Patches lie in a row of 1.2 km squares, eight per row, in UTM zone 33N. The last
    ``missing_s2`` S1 patches name an S2 patch that is not there. Returns the S1 names.
    ``first`` numbers the patches from there, so processes can each write a part.
    """
    rng = np.random.default_rng([seed, first])
    names = []
    for index in range(first, first + count):
        col, row = index % 8, index // 8
        s2_name = f"S2A_MSIL2A_20170613T101031_{col}_{row}"
        s1_name = f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{col}_{row}"
        patch = FakePatch(
            32633,
            500000.0 + col * PATCH_METRES,
            5800000.0 - row * PATCH_METRES,
            smooth_field(rng, 120),
        )
        s1_folder = root / BEN_S1 / s1_name
        s1_folder.mkdir(parents=True)
        db = s1_db(patch.field, rng)
        for band, data in zip(("VV", "VH"), db, strict=True):
            write_geotiff(s1_folder / f"{s1_name}_{band}.tif", data[None], *patch.corner, 10.0)
        coordinates = {
            "ulx": patch.west,
            "uly": patch.north,
            "lrx": patch.west + PATCH_METRES,
            "lry": patch.north - PATCH_METRES,
        }
        metadata = {
            "labels": ["Coniferous forest", "Mixed forest"],
            "coordinates": coordinates,
            "projection": CRS.from_epsg(patch.epsg).to_wkt(),
            "corresponding_s2_patch": s2_name,
            "scene_source": "S1A_IW_GRDH_1SDV_20170613T165043_20170613T165108_017023_01C5D3_6A8A",
            "acquisition_time": "2017-06-13T16:50:43",
        }
        (s1_folder / f"{s1_name}_labels_metadata.json").write_text(json.dumps(metadata))
        names.append(s1_name)
        if index >= first + count - missing_s2:
            continue
        s2_folder = root / BEN_S2 / s2_name
        s2_folder.mkdir(parents=True)
        for number, (band, side) in enumerate(BEN_S2_BANDS.items()):
            step = 120 // side
            dn = s2_dn(patch.field[::step, ::step], 1)
            dn += np.uint16(number * 10)
            write_geotiff(s2_folder / f"{s2_name}_{band}.tif", dn, *patch.corner, 10.0 * step)
        s2_metadata = {
            "labels": metadata["labels"],
            "coordinates": coordinates,
            "projection": metadata["projection"],
            "tile_source": "S2A_MSIL1C_20170613T101031_N0205_R022_T33UUP_20170613T101608.SAFE",
            "acquisition_date": "2017-06-13 10:10:31",
        }
        (s2_folder / f"{s2_name}_labels_metadata.json").write_text(json.dumps(s2_metadata))
    (root / BEN_S2).mkdir(parents=True, exist_ok=True)
    return names


def write_sen12ms(
    root: Path, scenes: int, patches: int, *, seasons: int = 1, size: int = 256, seed: int = 0
) -> list[Path]:
    """``ROIs<n>_<season>/s1_<n>/ROIs<n>_<season>_s1_<n>_p<k>.tif`` with ``s2_`` and ``lc_``.

    S1: VV, VH sigma0 dB (float32); S2: 13 L1C bands (uint16); LC: 4 land-cover
    schemes (uint16). Returns the S1 patch files.
    """
    rng = np.random.default_rng(seed)
    written = []
    for season in SEN12MS_SEASONS[:seasons]:
        for scene in range(1, scenes + 1):
            for k in range(1, patches + 1):
                west = 300000.0 + scene * 100000.0 + k * size * 10.0
                patch = FakePatch(32632, west, 5300000.0, smooth_field(rng, size))
                for kind, data in (
                    ("s1", s1_db(patch.field, rng).clip(-25, 0)),
                    ("s2", s2_dn(patch.field, 13)),
                    ("lc", np.full((4, size, size), 10, dtype=np.uint16)),
                ):
                    folder = root / season / f"{kind}_{scene}"
                    folder.mkdir(parents=True, exist_ok=True)
                    path = folder / f"{season}_{kind}_{scene}_p{k}.tif"
                    write_geotiff(path, data, *patch.corner, 10.0)
                    if kind == "s1":
                        written.append(path)
    return written
