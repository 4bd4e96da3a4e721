"""Sentinel-2 L2A reader: the real 60 m product and small synthetic products on its grid."""

from __future__ import annotations

import re
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import fsspec
import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS

from geocolor.errors import GeocolorError
from geocolor.s2.archive import gdal_path
from geocolor.s2.product import DEFAULT_MASKED, S2Product, SCLClass, open_s2

SAFE_NAME = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"
# a 300 x 300 window of the real 60 m tile, half no-data, with clouds, shadow and land
ROWS, COLS = slice(900, 1200), slice(900, 1200)
SIZE = 300  # synthetic tile edge at 10 m
BANDS_10M = ("B02", "B03", "B04", "B08")


@pytest.fixture
def real_safe(shared_data: Path) -> Path:
    return shared_data / "s2" / SAFE_NAME


def image_files(mtd_text: str) -> dict[str, str]:
    """IMAGE_FILE entries of an MTD_MSIL2A.xml, keyed by their ``B02_10m`` suffix."""
    entries = re.findall(r"<IMAGE_FILE>(.*?)</IMAGE_FILE>", mtd_text)
    return {"_".join(entry.rsplit("_", 2)[-2:]): entry for entry in entries}


def read_first_band(path: Path, rows: slice = ROWS, cols: slice = COLS) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1, window=((rows.start, rows.stop), (cols.start, cols.stop)))


def write_jp2(path: Path, values: np.ndarray, transform: Affine) -> None:
    """Lossless JPEG 2000, as in a real SAFE."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "JP2OpenJPEG",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": values.dtype,
        "crs": CRS.from_epsg(32629),
        "transform": transform,
        "QUALITY": 100,
        "REVERSIBLE": "YES",
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values, 1)


def write_geotiff(path: Path, values: np.ndarray, transform: Affine, **tags: str) -> None:
    profile = {
        "driver": "GTiff",
        "width": values.shape[1],
        "height": values.shape[0],
        "count": 1,
        "dtype": values.dtype,
        "crs": CRS.from_epsg(32629),
        "transform": transform,
    }
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(values, 1)
        dataset.update_tags(**tags)


def tile_transform(resolution: int) -> Affine:
    """The real tile's origin (UL corner of T29UNU) at ``resolution`` metres."""
    return Affine(resolution, 0, 499980, 0, -resolution, 5900040)


def synthetic_dn(seed: int) -> np.ndarray:
    """10 m digital numbers with a no-data (0) corner."""
    dn = np.random.default_rng(seed).integers(1, 20000, (SIZE, SIZE), dtype=np.uint16)
    dn[:7, :11] = 0
    return dn


def synthetic_scl() -> np.ndarray:
    return np.random.default_rng(99).integers(0, 12, (SIZE // 2, SIZE // 2), dtype=np.uint8)


def write_safe(
    real: Path, dest: Path, mtd_text: str | None = None, scl: np.ndarray | None = None
) -> Path:
    """A 300 x 300 (10 m) SAFE on the real tile grid, files where the real MTD lists them."""
    safe = dest / SAFE_NAME
    safe.mkdir(parents=True)
    text = mtd_text or (real / "MTD_MSIL2A.xml").read_text()
    (safe / "MTD_MSIL2A.xml").write_text(text)
    files = image_files(text)
    granule = files["B02_10m"].split("/IMG_DATA/")[0]
    tile_text = (real / granule / "MTD_TL.xml").read_text()
    for resolution in (10, 20, 60):
        edge = SIZE * 10 // resolution
        tile_text = re.sub(
            rf'(<Size resolution="{resolution}">\s*<NROWS>)\d+(</NROWS>\s*<NCOLS>)\d+',
            rf"\g<1>{edge}\g<2>{edge}",
            tile_text,
        )
    (safe / granule).mkdir(parents=True)
    (safe / granule / "MTD_TL.xml").write_text(tile_text)
    for seed, band in enumerate(BANDS_10M):
        write_jp2(safe / f"{files[f'{band}_10m']}.jp2", synthetic_dn(seed), tile_transform(10))
    scl_values = synthetic_scl() if scl is None else scl
    write_jp2(safe / f"{files['SCL_20m']}.jp2", scl_values, tile_transform(20))
    return safe


@pytest.fixture
def synthetic_safe(real_safe: Path, tmp_path: Path) -> Path:
    return write_safe(real_safe, tmp_path)


def expected_reflectance(dn: np.ndarray, offset: float) -> np.ndarray:
    reflectance = (dn.astype(np.float64) + offset) / 10000
    reflectance[dn == 0] = np.nan
    return reflectance


def replicate_2x(values: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(values, 2, axis=0), 2, axis=1)


# --- the real product at 60 m -------------------------------------------------------


def real_band_path(real_safe: Path, band: str, resolution: int) -> Path:
    text = (real_safe / "MTD_MSIL2A.xml").read_text()
    return real_safe / f"{image_files(text)[f'{band}_{resolution}m']}.jp2"


def test_real_metadata(real_safe: Path) -> None:
    product = open_s2(str(real_safe))
    info = product.info
    assert info.product_id == SAFE_NAME.removesuffix(".SAFE")
    assert info.spacecraft == "Sentinel-2A"
    assert info.processing_baseline == "04.00"
    assert info.tile_id == "29UNU"
    assert info.crs == CRS.from_epsg(32629)
    assert info.sensing_time == datetime(2022, 10, 5, 11, 56, 49, 581767, tzinfo=UTC)
    assert info.cloud_cover_percent == pytest.approx(59.769726)
    assert info.quantification_value == 10000
    assert len(info.offsets) == 13
    assert set(info.offsets.values()) == {-1000.0}
    assert "B8A" in product.bands_available(60)
    assert product.bands_available(10) == []
    with rasterio.open(real_band_path(real_safe, "B02", 60)) as band:
        assert product.grid(60) == (band.crs, band.transform, 1830, 1830)
    lon, lat = product.footprint().exterior.coords[0]
    assert (lon, lat) == pytest.approx((-7.7604675, 53.24107326120979))


def test_real_reflectance_matches_dn(real_safe: Path) -> None:
    reflectance = open_s2(str(real_safe)).read_reflectance(resolution=60, chunks=512)
    window = reflectance[:, ROWS, COLS].values
    assert reflectance.dtype == np.float32
    assert reflectance.rio.crs == CRS.from_epsg(32629)
    assert reflectance.rio.transform() == tile_transform(60)
    for index, band in enumerate(("B02", "B03", "B04")):
        dn = read_first_band(real_band_path(real_safe, band, 60))
        assert 0.2 < (dn == 0).mean() < 0.8
        np.testing.assert_allclose(window[index], expected_reflectance(dn, -1000), atol=1e-7)


def test_real_chunked_equals_whole_window(real_safe: Path) -> None:
    product = open_s2(str(real_safe))
    small = product.read_reflectance(("B04",), resolution=60, chunks=97)[:, ROWS, COLS]
    whole = product.read_reflectance(("B04",), resolution=60, chunks=2048)[:, ROWS, COLS]
    assert small.data.numblocks[1:] != whole.data.numblocks[1:]
    np.testing.assert_array_equal(small.values, whole.values)


def test_real_mask_at_60m_is_scl_membership(real_safe: Path) -> None:
    mask = open_s2(str(real_safe)).read_mask(60, chunks=256)
    scl = read_first_band(real_band_path(real_safe, "SCL", 60))
    assert mask.dtype == bool
    assert mask.rio.transform() == tile_transform(60)
    np.testing.assert_array_equal(mask[ROWS, COLS].values, np.isin(scl, list(DEFAULT_MASKED)))


def test_real_scl_20m_resampled_to_60m(real_safe: Path) -> None:
    product = open_s2(str(real_safe))
    from_20m = product.read_mask(60, scl_resolution=20, chunks=128)[ROWS, COLS].values
    scl_20m = read_first_band(
        real_band_path(real_safe, "SCL", 20),
        slice(3 * ROWS.start, 3 * ROWS.stop),
        slice(3 * COLS.start, 3 * COLS.stop),
    )
    centres = scl_20m[1::3, 1::3]  # the 20 m pixel under each 60 m pixel centre
    np.testing.assert_array_equal(from_20m, np.isin(centres, list(DEFAULT_MASKED)))
    native = product.read_mask(60)[ROWS, COLS].values
    assert (from_20m == native).mean() > 0.98


def test_real_10m_request_names_band_and_resolutions(real_safe: Path) -> None:
    product = open_s2(str(real_safe))
    with pytest.raises(GeocolorError, match=r"B02 has no 10 m.*B02_10m\.jp2.*60 m"):
        product.read_reflectance(resolution=10)


# --- synthetic SAFE products at 10 m on the real tile grid ----------------------------


def test_synthetic_reflectance_scaling(synthetic_safe: Path) -> None:
    product = open_s2(str(synthetic_safe))
    assert product.bands_available(10) == list(BANDS_10M)
    assert product.grid(10) == (CRS.from_epsg(32629), tile_transform(10), SIZE, SIZE)
    reflectance = product.read_reflectance(BANDS_10M, resolution=10, chunks=128)
    assert reflectance.dims == ("band", "y", "x")
    assert list(reflectance.band.values) == list(BANDS_10M)
    assert reflectance.data.chunks == ((1, 1, 1, 1), (128, 128, 44), (128, 128, 44))
    assert reflectance.rio.transform() == tile_transform(10)
    assert reflectance.x.values[0] == 499985 and reflectance.y.values[0] == 5900035
    values = reflectance.values
    for seed, band in enumerate(BANDS_10M):
        expected = expected_reflectance(synthetic_dn(seed), -1000)
        np.testing.assert_allclose(values[seed], expected, atol=1e-7, err_msg=band)


def test_offsets_follow_the_xml(real_safe: Path, tmp_path: Path) -> None:
    text = (real_safe / "MTD_MSIL2A.xml").read_text()
    text = text.replace('<BOA_ADD_OFFSET band_id="1">-1000<', '<BOA_ADD_OFFSET band_id="1">-500<')
    text = re.sub(r"(<BOA_QUANTIFICATION_VALUE[^>]*>)10000<", r"\g<1>20000<", text)
    product = open_s2(str(write_safe(real_safe, tmp_path, text)))
    assert product.info.offsets["B02"] == -500 and product.info.offsets["B03"] == -1000
    values = product.read_reflectance(("B02", "B03"), resolution=10).values
    np.testing.assert_allclose(
        values[0], expected_reflectance(synthetic_dn(0), -500) / 2, atol=1e-7
    )
    np.testing.assert_allclose(
        values[1], expected_reflectance(synthetic_dn(1), -1000) / 2, atol=1e-7
    )


def test_pre_0400_product_has_no_offset(real_safe: Path, tmp_path: Path) -> None:
    text = (real_safe / "MTD_MSIL2A.xml").read_text()
    text = re.sub(
        r"<BOA_ADD_OFFSET_VALUES_LIST>.*?</BOA_ADD_OFFSET_VALUES_LIST>", "", text, flags=re.S
    )
    text = text.replace("<PROCESSING_BASELINE>04.00<", "<PROCESSING_BASELINE>03.01<")
    product = open_s2(str(write_safe(real_safe, tmp_path, text)))
    assert product.info.processing_baseline == "03.01"
    assert set(product.info.offsets.values()) == {0.0}
    values = product.read_reflectance(("B04",), resolution=10).values[0]
    np.testing.assert_allclose(values, expected_reflectance(synthetic_dn(2), 0), atol=1e-7)


def test_cloud_at_20m_masks_exactly_its_four_10m_pixels(real_safe: Path, tmp_path: Path) -> None:
    scl = np.full((SIZE // 2, SIZE // 2), SCLClass.VEGETATION, dtype=np.uint8)
    r, c = 38, 71  # 10 m pixels 76..77 and 142..143 straddle 77-pixel chunk edges
    scl[r, c] = SCLClass.CLOUD_HIGH_PROBABILITY
    mask = open_s2(str(write_safe(real_safe, tmp_path, scl=scl))).read_mask(10, chunks=77).values
    assert mask.shape == (SIZE, SIZE)
    assert mask[2 * r : 2 * r + 2, 2 * c : 2 * c + 2].all()
    assert mask.sum() == 4


def test_mask_replicates_scl_2x_with_chosen_classes(synthetic_safe: Path) -> None:
    product = open_s2(str(synthetic_safe))
    scl = synthetic_scl()
    default = product.read_mask(10, chunks=77)
    assert default.rio.transform() == tile_transform(10)
    np.testing.assert_array_equal(default.values, replicate_2x(np.isin(scl, list(DEFAULT_MASKED))))
    water = product.read_mask(10, classes={SCLClass.WATER}, chunks=100).values
    np.testing.assert_array_equal(water, replicate_2x(scl == SCLClass.WATER))


def test_footprint_from_metadata_else_tile_bounds(real_safe: Path, tmp_path: Path) -> None:
    text = (real_safe / "MTD_MSIL2A.xml").read_text()
    with_footprint = open_s2(str(write_safe(real_safe, tmp_path / "a", text))).footprint()
    assert with_footprint.exterior.coords[1] == pytest.approx((-7.8072205, 53.15694484444376))
    text = re.sub(r"<Product_Footprint>.*</Product_Footprint>", "", text, flags=re.S)
    tile_footprint = open_s2(str(write_safe(real_safe, tmp_path / "b", text))).footprint()
    to_lonlat = Transformer.from_crs(32629, 4326, always_xy=True)
    lon, lat = to_lonlat.transform(
        [499980, 502980, 499980, 502980], [5900040, 5900040, 5897040, 5897040]
    )
    assert tile_footprint.bounds == pytest.approx(
        (min(lon), min(lat), max(lon), max(lat)), abs=1e-6
    )


def test_zip_reads_like_the_folder(synthetic_safe: Path, tmp_path: Path) -> None:
    archive = tmp_path / "product.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in synthetic_safe.rglob("*"):
            zipped.write(path, path.relative_to(synthetic_safe.parent).as_posix())
    folder, zipped_product = open_s2(str(synthetic_safe)), open_s2(str(archive))
    assert zipped_product.info == folder.info
    np.testing.assert_array_equal(
        zipped_product.read_reflectance(resolution=10).values,
        folder.read_reflectance(resolution=10).values,
    )
    np.testing.assert_array_equal(zipped_product.read_mask(10).values, folder.read_mask(10).values)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([SAFE_NAME, "product.zip"])


def test_fsspec_urls_for_folder_and_zip(synthetic_safe: Path, tmp_path: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "product"), "zip", synthetic_safe.parent)
    memory = fsspec.filesystem("memory")
    memory.put(str(synthetic_safe), "/s2test/", recursive=True)
    memory.put(archive, "/s2test/product.zip")
    try:
        expected = open_s2(str(synthetic_safe)).read_reflectance(("B03",), resolution=10).values
        for url in (f"memory://s2test/{SAFE_NAME}", "memory://s2test/product.zip"):
            product = open_s2(url)
            reflectance = product.read_reflectance(("B03",), resolution=10, chunks=128)
            np.testing.assert_array_equal(reflectance.values, expected, err_msg=url)
            assert product.read_mask(10).values.any()
    finally:
        memory.rm("/s2test", recursive=True)


# --- plain GeoTIFF band files ---------------------------------------------------------


def test_plain_geotiff_folder(tmp_path: Path) -> None:
    for seed, band in enumerate(("B02", "B03")):
        write_geotiff(tmp_path / f"{band}.tif", synthetic_dn(seed), tile_transform(10))
    write_geotiff(tmp_path / "B04.tif", synthetic_dn(2), tile_transform(10), BOA_ADD_OFFSET="-1000")
    scaled = np.linspace(0, 1, SIZE * SIZE, dtype=np.float32).reshape(SIZE, SIZE)
    scaled[0, :5] = -9999
    write_geotiff(tmp_path / "B08.tif", scaled, tile_transform(10))
    with rasterio.open(tmp_path / "B08.tif", "r+") as dataset:
        dataset.nodata = -9999
    write_geotiff(tmp_path / "SCL.tif", synthetic_scl(), tile_transform(20))
    (tmp_path / "notes.txt").write_text("not a band")

    product = open_s2(str(tmp_path))
    assert product.info.processing_baseline is None
    assert product.info.offsets == {"B02": 0.0, "B03": 0.0, "B04": -1000.0, "B08": 0.0}
    assert product.bands_available(10) == list(BANDS_10M)
    assert product.grid(20) == (CRS.from_epsg(32629), tile_transform(20), SIZE // 2, SIZE // 2)
    values = product.read_reflectance(BANDS_10M, resolution=10, chunks=128).values
    np.testing.assert_allclose(values[0], expected_reflectance(synthetic_dn(0), 0), atol=1e-7)
    np.testing.assert_allclose(values[2], expected_reflectance(synthetic_dn(2), -1000), atol=1e-7)
    expected_b08 = np.where(scaled == -9999, np.nan, scaled)
    np.testing.assert_array_equal(values[3], expected_b08)
    mask = product.read_mask(10, chunks=77).values
    np.testing.assert_array_equal(
        mask, replicate_2x(np.isin(synthetic_scl(), list(DEFAULT_MASKED)))
    )


def test_plain_band_listing_with_esa_names(tmp_path: Path) -> None:
    paths = []
    for seed, band in enumerate(("B02", "B03", "B04")):
        path = tmp_path / f"T29UNU_20221005T115411_{band}_10m.tif"
        write_geotiff(path, synthetic_dn(seed), tile_transform(10))
        paths.append(str(path))
    product = open_s2(paths)
    assert product.info.tile_id == "29UNU"
    assert product.info.sensing_time == datetime(2022, 10, 5, 11, 54, 11, tzinfo=UTC)
    values = product.read_reflectance(resolution=10).values
    np.testing.assert_allclose(values[1], expected_reflectance(synthetic_dn(1), 0), atol=1e-7)
    with pytest.raises(GeocolorError, match="no SCL raster"):
        product.read_mask(10)


# --- bad input --------------------------------------------------------------------------


def test_level_1c_product_is_refused(synthetic_safe: Path) -> None:
    (synthetic_safe / "MTD_MSIL2A.xml").rename(synthetic_safe / "MTD_MSIL1C.xml")
    with pytest.raises(GeocolorError, match=r"SAFE: is a Level-1C product \(MTD_MSIL1C\.xml\)"):
        open_s2(str(synthetic_safe))


def test_level_1c_root_element_is_refused(synthetic_safe: Path) -> None:
    mtd = synthetic_safe / "MTD_MSIL2A.xml"
    mtd.write_text(mtd.read_text().replace("Level-2A_User_Product", "Level-1C_User_Product"))
    with pytest.raises(GeocolorError, match=r"MTD_MSIL2A\.xml: root element is Level-1C"):
        open_s2(str(synthetic_safe))


def test_missing_metadata_is_refused(synthetic_safe: Path) -> None:
    (synthetic_safe / "MTD_MSIL2A.xml").unlink()
    with pytest.raises(GeocolorError, match=rf"{SAFE_NAME}: MTD_MSIL2A\.xml not found"):
        open_s2(str(synthetic_safe))


def test_broken_metadata_xml_is_one_line_naming_the_file(synthetic_safe: Path) -> None:
    mtd = synthetic_safe / "MTD_MSIL2A.xml"
    tile = next(synthetic_safe.rglob("MTD_TL.xml"))
    mtd_text, tile_text = mtd.read_text(), tile.read_text()
    tile.write_text(tile_text[: len(tile_text) // 2])
    with pytest.raises(GeocolorError, match=r"MTD_TL\.xml: malformed XML \(.*\)\.$"):
        open_s2(str(synthetic_safe))
    tile.write_text(re.sub(r"<TILE_ID[^>]*>[^<]*</TILE_ID>", "", tile_text))
    with pytest.raises(GeocolorError, match=r"MTD_TL\.xml: missing or empty element '.*TILE_ID'"):
        open_s2(str(synthetic_safe))
    tile.write_text(tile_text)
    mtd.write_text(re.sub(r"(<BOA_QUANTIFICATION_VALUE[^>]*>)\d+", r"\1ten", mtd_text))
    with pytest.raises(
        GeocolorError,
        match=r"MTD_MSIL2A\.xml: element 'BOA_QUANTIFICATION_VALUE' holds a non-number .*'ten'",
    ):
        open_s2(str(synthetic_safe))


def test_unreadable_band_file_is_named(synthetic_safe: Path) -> None:
    product = open_s2(str(synthetic_safe))
    band = next(synthetic_safe.rglob("*_B03_10m.jp2"))
    band.write_bytes(b"not a jpeg 2000 file")
    with pytest.raises(GeocolorError, match=rf"{band.name}: cannot open raster"):
        product.read_reflectance(resolution=10)


def test_corrupt_band_pixels_are_named_at_compute(synthetic_safe: Path) -> None:
    band = next(synthetic_safe.rglob("*_B04_10m.jp2"))
    reflectance = open_s2(str(synthetic_safe)).read_reflectance(("B04",), resolution=10)
    band.write_bytes(band.read_bytes()[: band.stat().st_size // 2])
    with pytest.raises(GeocolorError, match=rf"{band.name}: cannot read pixels"):
        reflectance.compute()


def test_truncated_zip_is_refused(synthetic_safe: Path, tmp_path: Path) -> None:
    archive = Path(shutil.make_archive(str(tmp_path / "product"), "zip", synthetic_safe.parent))
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(GeocolorError, match=r"product\.zip: unreadable zip archive"):
        open_s2(str(archive))


def test_band_off_the_tile_grid_is_refused(synthetic_safe: Path) -> None:
    tile = next(synthetic_safe.rglob("MTD_TL.xml"))
    tile.write_text(tile.read_text().replace("<NROWS>300</NROWS>", "<NROWS>10980</NROWS>"))
    with pytest.raises(GeocolorError, match=r"_B02_10m\.jp2: 300 x 300 pixels .* tile grid"):
        open_s2(str(synthetic_safe)).read_reflectance(resolution=10)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nowhere.SAFE", "no such file or folder"),
        ("empty", "neither MTD_MSIL2A.xml nor band files"),
    ],
)
def test_not_a_product(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(GeocolorError, match=rf"{name}: {message}"):
        open_s2(str(tmp_path / name))


def test_unknown_band_and_class_codes(synthetic_safe: Path) -> None:
    product: S2Product = open_s2(str(synthetic_safe))
    with pytest.raises(GeocolorError, match="unknown band 'B13'"):
        product.read_reflectance(("B13",))
    with pytest.raises(GeocolorError, match=r"SCL class codes must lie in 0\.\.255"):
        product.read_mask(10, classes={300})


def test_s3_and_azure_urls_are_read_by_gdal_itself_gcs_through_gcsfs() -> None:
    def gdal(*protocols: str) -> str | None:
        return gdal_path(SimpleNamespace(protocol=protocols), "bucket/x.SAFE")

    assert gdal("gs", "gcs") is None  # gcsfs: the credentials and emulator of everything else
    assert gdal("s3", "s3a") == "/vsis3/bucket/x.SAFE"
    assert gdal("abfs", "az", "abfss") == "/vsiaz/bucket/x.SAFE"
    assert gdal("memory") is None
