"""The synthetic Sentinel-2 L2A writer: read back by geocolor's reader and GDAL's, against
its own truth, the shared land-cover map and the synthetic Sentinel-1 scene beside it."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.windows import Window

from geocolor.demo.landcover import LandCover, LandCoverModel, SceneLayout, reflectance
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import (
    BANDS,
    FULL_TILE,
    SyntheticS2Scene,
    footprint_lonlat,
    write_synthetic_s2,
)
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.crs import utm_crs_for
from geocolor.s1.safe import open_safe
from geocolor.s2.product import SCLClass, open_s2

LAYOUT = SceneLayout(lines=400, samples=600)
SIZE = 600
SEED = 5
WHOLE = Window(0, 0, SIZE, SIZE)
DN_STEP = 1e-4  # reflectance of one DN
NAME = re.compile(r"S2A_MSIL2A_\d{8}T\d{6}_N0400_R\d{3}_T\d\d[C-X][A-Z]{2}_\d{8}T\d{6}")
VEGETATION = (LandCover.FOREST, LandCover.CROPLAND, LandCover.GRASSLAND)
REAL_SAFE = "S2A_MSIL2A_20221005T115411_N0400_R023_T29UNU_20221005T164454.SAFE"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s2(tmp_path_factory.mktemp("s2"), layout=LAYOUT, size=SIZE, seed=SEED)


@pytest.fixture(scope="module")
def zipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("s2zip")
    return write_synthetic_s2(out, layout=LAYOUT, size=SIZE, seed=SEED, zip=True)


@pytest.fixture(scope="module")
def scene() -> SyntheticS2Scene:
    return SyntheticS2Scene(layout=LAYOUT, size=SIZE, seed=SEED)


@pytest.fixture(scope="module")
def truth(scene: SyntheticS2Scene) -> np.ndarray:
    """Cloud-free reflectance of every band, (band, y, x)."""
    return np.stack([scene.reflectance(band, WHOLE) for band in BANDS])


@pytest.fixture(scope="module")
def observed(scene: SyntheticS2Scene) -> np.ndarray:
    """Reflectance with clouds and shadows, (band, y, x)."""
    seen = scene.observed(WHOLE)
    return np.stack([seen[band] for band in BANDS])


@pytest.fixture(scope="module")
def s1_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(tmp_path_factory.mktemp("s1"), layout=LAYOUT, seed=SEED)


def mtd(path: Path) -> ET.Element:
    return ET.parse(path / "MTD_MSIL2A.xml").getroot()


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


def find(root: ET.Element, name: str) -> list[ET.Element]:
    return [element for element in root.iter() if local(element.tag) == name]


def band_file(path: Path, band: str, resolution: int) -> Path:
    (found,) = path.glob(f"GRANULE/*/IMG_DATA/R{resolution}m/*_{band}_{resolution}m.*")
    return found


def read(path: Path) -> np.ndarray:
    with rasterio.open(path) as dataset:
        return dataset.read(1)


def cloud_share(scl: np.ndarray) -> float:
    valid = scl != SCLClass.NO_DATA
    return float(np.isin(scl[valid], (8, 9, 10)).mean())


# --- layout and names -----------------------------------------------------------------


def test_names_files_and_image_file_entries_agree(product: Path) -> None:
    assert NAME.fullmatch(product.name.removesuffix(".SAFE"))
    root = mtd(product)
    assert find(root, "PRODUCT_URI")[0].text == product.name
    (granule,) = find(root, "Granule")
    assert granule.get("imageFormat") == "JPEG2000"
    entries = sorted(f"{element.text}.jp2" for element in find(root, "IMAGE_FILE"))
    files = sorted(path.relative_to(product).as_posix() for path in product.rglob("*.jp2"))
    assert entries == files
    assert [name.rsplit("_", 2)[-2] + "_" + name.rsplit("_", 1)[-1] for name in files] == [
        "B02_10m.jp2",
        "B03_10m.jp2",
        "B04_10m.jp2",
        "B08_10m.jp2",
        "SCL_20m.jp2",
    ]
    tile = product.name.split("_")[5]
    assert all(Path(name).name.startswith(f"{tile}_") for name in files)
    assert not list(product.rglob("*.aux.xml"))


def test_zip_holds_the_safe_folder_with_rasters_stored(zipped: Path, product: Path) -> None:
    with zipfile.ZipFile(zipped) as archive:
        infos = archive.infolist()
    assert {info.filename.split("/")[0] for info in infos} == {product.name}
    rasters = [info for info in infos if info.filename.endswith(".jp2")]
    assert len(rasters) == 5
    assert all(info.compress_type == zipfile.ZIP_STORED for info in rasters)


def test_jpeg2000_is_lossless_and_tiled_like_real_bands(product: Path) -> None:
    with rasterio.open(band_file(product, "B02", 10)) as band:
        assert (band.driver, band.dtypes[0], band.shape) == ("JP2OpenJPEG", "uint16", (SIZE,) * 2)
        assert band.tags(ns="IMAGE_STRUCTURE")["COMPRESSION_REVERSIBILITY"] == "LOSSLESS"
    with rasterio.open(band_file(product, "SCL", 20)) as scl:
        assert (scl.dtypes[0], scl.shape) == ("uint8", (SIZE // 2,) * 2)


def test_xml_paths_and_order_follow_the_real_sample(product: Path, shared_data: Path) -> None:
    real = shared_data / "s2" / REAL_SAFE
    pairs = [(mtd(product), mtd(real))]
    (tile,) = product.glob("GRANULE/*/MTD_TL.xml")
    (real_tile,) = real.glob("GRANULE/*/MTD_TL.xml")
    pairs.append((ET.parse(tile).getroot(), ET.parse(real_tile).getroot()))
    for synthetic, genuine in pairs:
        assert local(synthetic.tag) == local(genuine.tag)
        genuine_order = child_orders(genuine)
        for path, names in child_orders(synthetic).items():
            assert path in genuine_order, path
            expected = [name for name in genuine_order[path] if name in names]
            assert names == expected, path


def child_orders(root: ET.Element) -> dict[str, list[str]]:
    """Distinct child names, in order of first appearance, under each element path."""
    orders: dict[str, list[str]] = {}

    def walk(element: ET.Element, path: str) -> None:
        names = orders.setdefault(path, [])
        for child in element:
            if local(child.tag) not in names:
                names.append(local(child.tag))
            walk(child, f"{path}/{local(child.tag)}")

    walk(root, local(root.tag))
    return orders


@pytest.mark.filterwarnings("ignore::rasterio.errors.NotGeoreferencedWarning")  # the root XML
def test_gdal_sentinel2_driver_reads_the_same_product(product: Path) -> None:
    with rasterio.open(product / "MTD_MSIL2A.xml") as dataset:
        tags = dataset.tags()
        ten_metre = next(name for name in dataset.subdatasets if ":10m:" in name)
    assert float(tags["CLOUD_COVERAGE_ASSESSMENT"]) == pytest.approx(
        open_s2(str(product)).info.cloud_cover_percent
    )
    with rasterio.open(ten_metre) as bands:
        index = bands.descriptions.index(next(d for d in bands.descriptions if d.startswith("B2,")))
        assert bands.tags(index + 1)["BOA_ADD_OFFSET"] == "-1000"
        np.testing.assert_array_equal(bands.read(index + 1), read(band_file(product, "B02", 10)))


# --- radiometry against the truth -------------------------------------------------------


@pytest.mark.parametrize("packaging", ["folder", "zip"])
def test_reflectance_is_the_truth_where_the_mask_is_clear(
    packaging: str,
    product: Path,
    zipped: Path,
    scene: SyntheticS2Scene,
    truth: np.ndarray,
    observed: np.ndarray,
) -> None:
    opened = open_s2(str(product if packaging == "folder" else zipped))
    assert opened.info.processing_baseline == "04.00"
    assert {opened.info.offsets[band] for band in ("B02", "B03", "B04", "B08")} == {-1000.0}
    assert opened.info.quantification_value == 10000
    values = opened.read_reflectance(BANDS, chunks=256).values
    mask = opened.read_mask(10, chunks=256).values
    valid = scene.valid_mask(WHOLE)
    assert 0.03 < (~valid).mean() < 0.10
    np.testing.assert_array_equal(np.isnan(values), np.broadcast_to(~valid, values.shape))
    clear = ~mask
    assert clear.mean() > 0.6
    assert np.abs(values - truth)[:, clear].max() <= DN_STEP / 2 + 1e-6
    np.testing.assert_allclose(values, observed, atol=DN_STEP / 2 + 1e-6)


def test_reader_geocoding_lands_on_the_shared_landcover_map(product: Path) -> None:
    """Independently of the writer's truth: the map sampled at the reader's pixel centres."""
    opened = open_s2(str(product))
    values = opened.read_reflectance(("B04", "B08"))
    x, y = np.meshgrid(values.x.values, values.y.values)
    sample = LandCoverModel(seed=SEED).evaluate_in_crs(x, y, opened.info.crs.to_string())
    clear = ~opened.read_mask(10).values
    for index, band in enumerate(("B04", "B08")):
        expected = reflectance(sample.classes, band, sample.texture)
        error = np.abs(values.values[index] - expected)[clear]
        assert error.max() <= DN_STEP / 2 + 1e-6


def test_mask_covers_clouds_and_shadows_and_little_else(
    product: Path, scene: SyntheticS2Scene
) -> None:
    mask = open_s2(str(product)).read_mask(10).values
    touched = scene.cloud_or_shadow(WHOLE)
    valid = scene.valid_mask(WHOLE)
    assert touched.mean() > 0.1
    assert not (touched & ~mask).any()
    assert not (~valid & ~mask).any()
    assert (mask & valid & ~touched).mean() < 0.02


def test_clouds_are_bright_grey_and_shadows_darken_the_ground(
    scene: SyntheticS2Scene, truth: np.ndarray, observed: np.ndarray
) -> None:
    valid = scene.valid_mask(WHOLE)
    density = scene.cloud_density(WHOLE)
    thick = valid & (density > scene.thresholds.high + 0.02)
    assert thick.sum() > 100
    assert np.all((observed[:, thick] > 0.39) & (observed[:, thick] < 0.61))
    assert np.ptp(observed[:, thick], axis=0).max() < 0.01  # grey: alike in every band
    shadow = scene.shadow_density(WHOLE)
    thin = valid & (density > scene.thresholds.cirrus) & (density < scene.thresholds.cloud)
    thin &= shadow <= scene.thresholds.cloud
    haze = observed[:, thin] - truth[:, thin]
    assert thin.sum() > 100
    assert np.all(np.abs(haze) < 0.3 * 0.6)
    assert np.all(haze[:3] >= -1e-7) and haze[:3].mean() > 0.01  # visible bands brighten
    shaded = valid & (density <= scene.thresholds.cirrus) & (shadow > scene.thresholds.high)
    assert shaded.sum() > 100
    np.testing.assert_allclose(observed[:, shaded], 0.45 * truth[:, shaded], rtol=1e-5)


def test_shadows_fall_away_from_the_sun_of_the_metadata(
    product: Path, scene: SyntheticS2Scene
) -> None:
    (tile,) = product.glob("GRANULE/*/MTD_TL.xml")
    root = ET.parse(tile).getroot()
    zenith = float(find(root, "ZENITH_ANGLE")[0].text or "")
    azimuth = float(find(root, "AZIMUTH_ANGLE")[0].text or "")
    assert (zenith, azimuth) == pytest.approx(scene.sun_angles)
    assert 15 < zenith < 45 and 90 < azimuth < 180  # a mid-June morning near 45 N
    east, north = scene.shadow_shift
    assert math.degrees(math.atan2(east, north)) % 360 == pytest.approx((azimuth + 180) % 360)
    assert math.hypot(east, north) == pytest.approx(2000 * math.tan(math.radians(zenith)))


def test_scl_labels_the_ground_like_the_landcover(product: Path, scene: SyntheticS2Scene) -> None:
    scl = read(band_file(product, "SCL", 20))
    assert set(np.unique(scl)) <= {0, 3, 4, 5, 6, 8, 9, 10}
    assert {3, 8, 9, 10} <= set(np.unique(scl))
    children = scene.classes(WHOLE).reshape(SIZE // 2, 2, SIZE // 2, 2).transpose(0, 2, 1, 3)
    children = children.reshape(SIZE // 2, SIZE // 2, 4)
    groups = {4: VEGETATION, 5: (LandCover.URBAN, LandCover.BARE_SOIL), 6: (LandCover.WATER,)}
    for code, members in groups.items():
        labelled = children[scl == code]
        if code == 4:
            assert labelled.shape[0] > 1000
        if labelled.size:
            assert np.isin(labelled, members).mean() > 0.9, code


def test_cloud_cover_is_honoured_and_reported(tmp_path: Path, product: Path) -> None:
    for fraction, path in (
        (0.15, product),
        (
            0.4,
            write_synthetic_s2(tmp_path, layout=LAYOUT, size=SIZE, seed=SEED, cloud_fraction=0.4),
        ),
    ):
        share = cloud_share(read(band_file(path, "SCL", 20)))
        assert share == pytest.approx(fraction, abs=0.03)
        assert open_s2(str(path)).info.cloud_cover_percent == pytest.approx(100 * share, abs=1e-4)
    clear = write_synthetic_s2(
        tmp_path / "clear", layout=LAYOUT, size=120, seed=SEED, cloud_fraction=0.0
    )
    opened = open_s2(str(clear))
    assert opened.info.cloud_cover_percent == 0.0
    clear_scene = SyntheticS2Scene(layout=LAYOUT, size=120, seed=SEED, cloud_fraction=0.0)
    outside = ~clear_scene.valid_mask(Window(0, 0, 120, 120))
    scl_nodata = outside.reshape(60, 2, 60, 2).any(axis=(1, 3))  # an SCL pixel: 2 x 2 bands
    expected = np.repeat(np.repeat(scl_nodata, 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(opened.read_mask(10).values, expected)


# --- geometry: the S2 tile and the S1 scene of the same layout --------------------------


def test_grid_is_utm_and_overlaps_the_s1_scene(product: Path, s1_product: Path) -> None:
    opened = open_s2(str(product))
    crs, transform, width, height = opened.grid(10)
    assert crs == opened.info.crs == utm_crs_for(LAYOUT.centre_lon, LAYOUT.centre_lat)
    assert (transform.a, transform.e, width, height) == (10, -10, SIZE, SIZE)
    assert transform.c % 60 == 0 and transform.f % 60 == 0
    assert opened.grid(20)[1:] == (transform @ transform.scale(2), SIZE // 2, SIZE // 2)
    s2 = opened.footprint()
    s1 = open_safe(s1_product).footprint()
    overlap = s2.intersection(s1).area
    assert overlap > 0.5 * min(s2.area, s1.area)
    assert s1.contains(shapely.Point(LAYOUT.centre_lon, LAYOUT.centre_lat))
    assert s2.buffer(1e-9).contains(shapely.Point(LAYOUT.centre_lon, LAYOUT.centre_lat))


def test_default_size_covers_the_s1_scene_with_valid_pixels(s1_product: Path) -> None:
    scene = SyntheticS2Scene(layout=LAYOUT, seed=SEED)
    assert scene.tile_size % 6 == 0 and SIZE < scene.tile_size < 1200
    assert shapely.Polygon(footprint_lonlat(scene)).contains(open_safe(s1_product).footprint())


def test_full_size_tile_is_a_real_tile() -> None:
    scene = SyntheticS2Scene()
    assert scene.tile_size == FULL_TILE
    assert [scene.grid(res).shape for res in (10, 20, 60)] == [
        (10980,) * 2,
        (5490,) * 2,
        (1830,) * 2,
    ]
    assert scene.grid(60).transform.c == scene.grid(10).transform.c


def test_landcover_agrees_at_the_s1_geolocation_grid_points(
    s1_product: Path, scene: SyntheticS2Scene
) -> None:
    grid = open_safe(s1_product).geolocation_grid()
    expected = LandCoverModel(seed=SEED).classify(grid.lon, grid.lat)
    x, y = Transformer.from_crs("EPSG:4326", scene.crs, always_xy=True).transform(
        grid.lon, grid.lat
    )
    left, top = scene.origin
    col = np.floor((x - left) / 10).astype(int)
    row = np.floor((top - y) / 10).astype(int)
    inside = (row >= 1) & (row < SIZE - 1) & (col >= 1) & (col < SIZE - 1)
    assert inside.sum() > 100
    classes = scene.classes(WHOLE)
    at_pixel = classes[row[inside], col[inside]]
    assert (at_pixel == expected[inside]).mean() > 0.9
    for r, c, want in zip(row[inside], col[inside], expected[inside], strict=True):
        assert want in classes[r - 1 : r + 2, c - 1 : c + 2]


# --- variants ----------------------------------------------------------------------------


def test_baseline_0301_has_no_offsets_and_reads_with_zero(tmp_path: Path) -> None:
    path = write_synthetic_s2(tmp_path, layout=LAYOUT, size=120, seed=SEED, baseline="03.01")
    assert "_N0301_" in path.name
    assert not find(mtd(path), "BOA_ADD_OFFSET_VALUES_LIST")
    opened = open_s2(str(path))
    assert opened.info.processing_baseline == "03.01"
    assert set(opened.info.offsets.values()) == {0.0}
    whole = Window(0, 0, 120, 120)
    scene = SyntheticS2Scene(layout=LAYOUT, size=120, seed=SEED, baseline="03.01")
    values = opened.read_reflectance(("B04",)).values[0]
    clear = ~opened.read_mask(10).values
    dn = read(band_file(path, "B04", 10))
    np.testing.assert_allclose(values, np.where(dn == 0, np.nan, dn / 10000.0), atol=1e-7)
    assert np.abs(values - scene.reflectance("B04", whole))[clear].max() <= DN_STEP / 2 + 1e-6


@pytest.mark.parametrize(("resolution", "nir", "scl"), [(20, "B8A", 20), (60, "B8A", 60)])
def test_coarser_products_name_bands_like_real_ones(
    tmp_path: Path, resolution: int, nir: str, scl: int
) -> None:
    path = write_synthetic_s2(tmp_path, layout=LAYOUT, size=120, seed=SEED, resolution=resolution)
    opened = open_s2(str(path))
    assert opened.bands_available(resolution) == ["B02", "B03", "B04", nir]
    assert band_file(path, "SCL", scl).exists()
    scene = SyntheticS2Scene(layout=LAYOUT, size=120, seed=SEED, resolution=resolution)
    edge = 1200 // resolution
    whole = Window(0, 0, edge, edge)
    values = opened.read_reflectance((nir,), resolution=resolution).values[0]
    clear = ~opened.read_mask(resolution).values
    assert np.abs(values - scene.reflectance("B08", whole))[clear].max() <= DN_STEP / 2 + 1e-6


def test_geotiff_variant_holds_the_same_pixels(tmp_path: Path) -> None:
    common = {"layout": LAYOUT, "size": 120, "seed": SEED}
    jp2 = write_synthetic_s2(tmp_path / "jp2", **common)
    tif = write_synthetic_s2(tmp_path / "tif", jp2=False, **common)
    (granule,) = find(mtd(tif), "Granule")
    assert granule.get("imageFormat") == "GeoTIFF"
    entries = sorted(f"{element.text}.tif" for element in find(mtd(tif), "IMAGE_FILE"))
    assert entries == sorted(path.relative_to(tif).as_posix() for path in tif.rglob("*.tif"))
    for band, resolution in (("B02", 10), ("B08", 10), ("SCL", 20)):
        with rasterio.open(band_file(tif, band, resolution)) as dataset:
            assert dataset.profile["tiled"] and dataset.compression.name == "deflate"
        np.testing.assert_array_equal(
            read(band_file(tif, band, resolution)), read(band_file(jp2, band, resolution))
        )


# --- determinism, truth windows and arguments ---------------------------------------------


def test_same_seed_same_product_other_seed_other_scene(tmp_path: Path) -> None:
    common = {"layout": LAYOUT, "size": 120, "seed": SEED}
    first = write_synthetic_s2(tmp_path / "first", **common)
    again = write_synthetic_s2(tmp_path / "again", **common)
    other = write_synthetic_s2(tmp_path / "other", **{**common, "seed": SEED + 1})
    assert again.name == first.name
    assert (again / "MTD_MSIL2A.xml").read_bytes() == (first / "MTD_MSIL2A.xml").read_bytes()
    for band, resolution in (("B03", 10), ("SCL", 20)):
        pixels = read(band_file(first, band, resolution))
        np.testing.assert_array_equal(read(band_file(again, band, resolution)), pixels)
        assert (read(band_file(other, band, resolution)) != pixels).mean() > 0.2
    with pytest.raises(GeocolorError, match="already exists"):
        write_synthetic_s2(tmp_path / "first", **common)


def test_truth_windows_agree_with_the_whole_tile(
    scene: SyntheticS2Scene, truth: np.ndarray
) -> None:
    part = Window(123, 77, 200, 150)
    rows, cols = part.toslices()
    for index, band in enumerate(BANDS):
        np.testing.assert_array_equal(scene.reflectance(band, part), truth[index, rows, cols])
    np.testing.assert_array_equal(scene.cloud_density(part), scene.cloud_density(WHOLE)[rows, cols])
    np.testing.assert_array_equal(
        scene.cloud_or_shadow(part), scene.cloud_or_shadow(WHOLE)[rows, cols]
    )


def test_sensing_time_names_the_product(tmp_path: Path) -> None:
    when = datetime(2021, 6, 15, 10, 20, 31, tzinfo=UTC)
    path = write_synthetic_s2(tmp_path, layout=LAYOUT, size=60, seed=SEED, sensing_time=when)
    assert path.name.startswith("S2A_MSIL2A_20210615T102031_N0400_")
    assert open_s2(str(path)).info.sensing_time == when
    default = SyntheticS2Scene(layout=LAYOUT).acquired
    assert default.date() == LAYOUT.start_time.date()
    assert default.hour + default.minute / 60 + LAYOUT.centre_lon / 15 == pytest.approx(
        10.5, abs=0.01
    )


def test_bad_arguments_are_usage_errors(tmp_path: Path, scene: SyntheticS2Scene) -> None:
    for arguments in (
        {"size": 601},
        {"size": FULL_TILE + 6},
        {"resolution": 30},
        {"cloud_fraction": 1.5},
        {"baseline": "4"},
    ):
        with pytest.raises(UsageError):
            write_synthetic_s2(tmp_path, layout=LAYOUT, **arguments)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="outside"):
        scene.classes(Window(SIZE - 10, 0, 20, 20))
    assert not list(tmp_path.iterdir())
