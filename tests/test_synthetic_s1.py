"""The synthetic world (land cover, scene geometry) and the synthetic S1 GRD SAFE writer."""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer
from rasterio.windows import Window

from geocolor.demo.landcover import (
    LandCover,
    LandCoverModel,
    SceneLayout,
    reflectance,
    sigma0_db,
)
from geocolor.demo.s1 import (
    IPF_VERSION,
    SyntheticS1Scene,
    true_sigma0,
    write_synthetic_s1,
)
from geocolor.errors import GeocolorError, UsageError

LINES, SAMPLES = 600, 900
LOOKS = 4.4
MANIFEST_NS = {
    "xfdu": "urn:ccsds:schema:xfdu:1",
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
    "gml": "http://www.opengis.net/gml",
}

# Element paths a reader of IW GRD products uses (geometry, timing, calibration, noise);
# each must exist in the real IPF 003.31 sample and in every synthetic product.
_HEADER = [
    f"adsHeader/{tag}"
    for tag in (
        "missionId",
        "productType",
        "polarisation",
        "mode",
        "swath",
        "startTime",
        "stopTime",
        "absoluteOrbitNumber",
        "missionDataTakeId",
        "imageNumber",
    )
]
_GRID_POINT = "geolocationGrid/geolocationGridPointList/geolocationGridPoint"
_CONVERSION = "coordinateConversion/coordinateConversionList/coordinateConversion"
_SWATH_BOUNDS = "swathMerging/swathMergeList/swathMerge/swathBoundsList/swathBounds"
_PROC = "imageAnnotation/processingInformation"
READER_PATHS = {
    "annotation": [
        *_HEADER,
        *[
            f"generalAnnotation/productInformation/{tag}"
            for tag in (
                "pass",
                "platformHeading",
                "projection",
                "rangeSamplingRate",
                "radarFrequency",
            )
        ],
        *[
            f"generalAnnotation/orbitList/orbit/{tag}"
            for tag in (
                "time",
                "frame",
                "position/x",
                "position/y",
                "position/z",
                "velocity/x",
                "velocity/y",
                "velocity/z",
            )
        ],
        *[
            f"imageAnnotation/imageInformation/{tag}"
            for tag in (
                "productFirstLineUtcTime",
                "productLastLineUtcTime",
                "ascendingNodeTime",
                "slantRangeTime",
                "pixelValue",
                "outputPixels",
                "rangePixelSpacing",
                "azimuthPixelSpacing",
                "azimuthTimeInterval",
                "numberOfSamples",
                "numberOfLines",
                "incidenceAngleMidSwath",
            )
        ],
        f"{_PROC}/thermalNoiseCorrectionPerformed",
        f"{_PROC}/ellipsoidName",
        f"{_PROC}/ellipsoidSemiMajorAxis",
        f"{_PROC}/ellipsoidSemiMinorAxis",
        f"{_PROC}/swathProcParamsList/swathProcParams/swath",
        f"{_PROC}/swathProcParamsList/swathProcParams/rangeProcessing/numberOfLooks",
        f"{_PROC}/swathProcParamsList/swathProcParams/azimuthProcessing/numberOfLooks",
        "swathTiming/burstList",
        *[
            f"{_GRID_POINT}/{tag}"
            for tag in (
                "azimuthTime",
                "slantRangeTime",
                "line",
                "pixel",
                "latitude",
                "longitude",
                "height",
                "incidenceAngle",
                "elevationAngle",
            )
        ],
        *[
            f"{_CONVERSION}/{tag}"
            for tag in (
                "azimuthTime",
                "slantRangeTime",
                "sr0",
                "srgrCoefficients",
                "gr0",
                "grsrCoefficients",
            )
        ],
        *[
            f"{_SWATH_BOUNDS}/{tag}"
            for tag in (
                "firstAzimuthLine",
                "firstRangeSample",
                "lastAzimuthLine",
                "lastRangeSample",
            )
        ],
    ],
    "calibration": [
        *_HEADER,
        "calibrationInformation/absoluteCalibrationConstant",
        *[
            f"calibrationVectorList/calibrationVector/{tag}"
            for tag in ("azimuthTime", "line", "pixel", "sigmaNought", "betaNought", "gamma", "dn")
        ],
    ],
    "noise": [
        *_HEADER,
        *[
            f"noiseRangeVectorList/noiseRangeVector/{tag}"
            for tag in ("azimuthTime", "line", "pixel", "noiseRangeLut")
        ],
        *[
            f"noiseAzimuthVectorList/noiseAzimuthVector/{tag}"
            for tag in (
                "swath",
                "firstAzimuthLine",
                "firstRangeSample",
                "lastAzimuthLine",
                "lastRangeSample",
                "line",
                "noiseAzimuthLut",
            )
        ],
    ],
    "manifest": [
        "informationPackageMap/xfdu:contentUnit/xfdu:contentUnit/dataObjectPointer",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:processing/safe:facility/safe:software",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:platform/safe:familyName",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:orbitReference/safe:orbitNumber",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:orbitReference/"
        "safe:relativeOrbitNumber",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:orbitReference/safe:extension/"
        "s1:orbitProperties/s1:pass",
        "metadataSection/metadataObject/metadataWrap/xmlData/s1sarl1:standAloneProductInformation/"
        "s1sarl1:transmitterReceiverPolarisation",
        "metadataSection/metadataObject/metadataWrap/xmlData/s1sarl1:standAloneProductInformation/"
        "s1sarl1:productType",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:acquisitionPeriod/safe:startTime",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:acquisitionPeriod/safe:stopTime",
        "metadataSection/metadataObject/metadataWrap/xmlData/safe:frameSet/safe:frame/"
        "safe:footPrint/gml:coordinates",
        "dataObjectSection/dataObject/byteStream/fileLocation",
        "dataObjectSection/dataObject/byteStream/checksum",
    ],
}


# --------------------------------------------------------------------------------------
# Fixtures and helpers.


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(tmp_path_factory.mktemp("s1"), lines=LINES, samples=SAMPLES, seed=3)


@pytest.fixture(scope="module")
def zipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(
        tmp_path_factory.mktemp("s1zip"), lines=LINES, samples=SAMPLES, seed=3, zip=True
    )


@pytest.fixture(scope="module")
def scene(product: Path) -> SyntheticS1Scene:
    return SyntheticS1Scene.from_product(product)


def _kind(name: str) -> str:
    if name == "manifest.safe":
        return "manifest"
    base = name.rsplit("/", 1)[-1]
    return base.split("-", 1)[0] if base.startswith(("noise-", "calibration-")) else "annotation"


def _xml_files(product: Path) -> dict[str, ET.Element]:
    files = {"manifest.safe": ET.parse(product / "manifest.safe").getroot()}
    for path in sorted((product / "annotation").rglob("*.xml")):
        files[path.relative_to(product).as_posix()] = ET.parse(path).getroot()
    return files


def _real_xml_files(shared_data: Path) -> dict[str, ET.Element]:
    archive = next((shared_data / "s1").glob("S1A_IW_GRDH_1SDV_20210119T031653_*.zip"))
    files = {}
    with zipfile.ZipFile(archive) as bundle:
        for name in bundle.namelist():
            is_manifest = name.endswith("/manifest.safe")
            if is_manifest or ("/annotation/" in name and name.endswith(".xml")):
                key = "manifest.safe" if is_manifest else name.split(".SAFE/", 1)[1]
                files[key] = ET.fromstring(bundle.read(name))
    return files


def _child_order(root: ET.Element) -> dict[str, list[str]]:
    """For every element path, its distinct child tags in document order."""
    order: dict[str, list[str]] = {}

    def walk(element: ET.Element, path: str) -> None:
        tags = order.setdefault(path, [])
        for child in element:
            if child.tag not in tags:
                tags.append(child.tag)
            walk(child, f"{path}/{child.tag}")

    walk(root, root.tag)
    return order


def _is_subsequence(short: list[str], long: list[str]) -> bool:
    remaining = iter(long)
    return all(tag in remaining for tag in short)


def _annotation(product: Path, pol: str) -> ET.Element:
    path = next((product / "annotation").glob(f"s1a-iw-grd-{pol.lower()}-*.xml"))
    return ET.parse(path).getroot()


def _measurement(product: Path, pol: str) -> Path:
    return next((product / "measurement").glob(f"s1a-iw-grd-{pol.lower()}-*.tiff"))


def _floats(element: ET.Element | None) -> np.ndarray:
    assert element is not None and element.text is not None
    return np.array(element.text.split(), dtype=float)


# --------------------------------------------------------------------------------------
# Land cover and geometry.


def test_landcover_is_deterministic_and_has_every_class_on_ten_km() -> None:
    layout = SceneLayout()
    lines = np.arange(layout.lines // 2 - 500, layout.lines // 2 + 500, 4)
    pixels = np.arange(layout.samples // 2 - 500, layout.samples // 2 + 500, 4)
    lon, lat = layout.lonlat(lines[:, None], pixels[None, :])
    first = LandCoverModel(seed=0).evaluate(lon, lat)
    again = LandCoverModel(seed=0).evaluate(lon, lat)
    assert np.array_equal(first.classes, again.classes)
    assert np.array_equal(first.texture, again.texture)
    assert set(np.unique(first.classes).tolist()) == {c.value for c in LandCover}
    assert np.abs(first.texture).max() <= 1.0
    other = LandCoverModel(seed=1).classify(lon, lat)
    assert (other != first.classes).mean() > 0.2


def test_landcover_blocking_does_not_change_the_map() -> None:
    layout = SceneLayout()
    lon, lat = layout.lonlat(np.arange(0, 600)[:, None], np.arange(5000, 5700)[None, :])
    model = LandCoverModel(seed=2)
    whole = model.evaluate(lon, lat)
    pointwise = model.evaluate(lon.ravel(), lat.ravel())
    assert np.array_equal(whole.classes.ravel(), pointwise.classes)
    assert np.allclose(whole.texture.ravel(), pointwise.texture)


def test_same_class_whichever_generator_asks() -> None:
    """Radar pixels (S1 path) and UTM coordinates (an S2 generator) of the same places
    see the same classes."""
    layout = SceneLayout(lines=300, samples=400)
    scene = SyntheticS1Scene(layout=layout, seed=5, landcover_step=1)
    radar = scene.classes(Window(0, 0, 400, 300))
    lon, lat = layout.lonlat(np.arange(300)[:, None], np.arange(400)[None, :])
    model = LandCoverModel(seed=5)
    assert np.array_equal(radar, model.classify(lon, lat))
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True)
    east, north = to_utm.transform(lon, lat)
    assert np.array_equal(model.evaluate_in_crs(east, north, "EPSG:32632").classes, radar)


def test_signatures_are_realistic_and_validated() -> None:
    classes = np.array([c.value for c in LandCover])
    vv, vh = sigma0_db(classes, "VV"), sigma0_db(classes, "vh")
    assert vv[LandCover.WATER] == -22.0 and vh[LandCover.WATER] == -28.0
    assert vv[LandCover.URBAN] == -3.0 and vh[LandCover.URBAN] == -10.0
    assert np.all(vh < vv) and np.all((vv > -25) & (vv < 0))
    nir, red = reflectance(classes, "B08"), reflectance(classes, "B04")
    assert np.all((red > 0) & (red < 0.3) & (nir > 0) & (nir < 0.5))
    vegetation = [LandCover.FOREST, LandCover.CROPLAND, LandCover.GRASSLAND]
    assert np.all(nir[vegetation] > 4 * red[vegetation])
    assert nir[LandCover.WATER] < red[LandCover.WATER]
    textured = sigma0_db(classes, "VV", texture=np.ones(classes.size))
    assert np.all(textured > vv)
    with pytest.raises(UsageError):
        sigma0_db(classes, "HH")
    with pytest.raises(UsageError):
        reflectance(classes, "B05")


@pytest.mark.parametrize("orbit_pass", ["DESCENDING", "ASCENDING"])
def test_layout_geometry_looks_like_an_iw_pass(orbit_pass: str) -> None:
    layout = SceneLayout(orbit_pass=orbit_pass)  # type: ignore[arg-type]
    geod = Geod(ellps="sphere")
    mid_pixel = layout.samples // 2
    (lon0, lon1), (lat0, lat1) = layout.lonlat(np.array([0, layout.lines - 1]), mid_pixel)
    track, _, length = geod.inv(lon0, lat0, lon1, lat1)
    expected = 192.0 if orbit_pass == "DESCENDING" else 348.0
    assert abs((track - expected + 180) % 360 - 180) < 2.0
    assert length == pytest.approx((layout.lines - 1) * layout.pixel_spacing, rel=0.01)
    (near_lon, far_lon), _ = layout.lonlat(layout.lines // 2, np.array([0, layout.samples - 1]))
    assert (far_lon < near_lon) == (orbit_pass == "DESCENDING")  # right-looking
    lon, lat = layout.lonlat(np.array([100, 100, 101]), np.array([200, 201, 200]))
    assert geod.inv(lon[0], lat[0], lon[1], lat[1])[2] == pytest.approx(10.0, rel=0.01)
    assert geod.inv(lon[0], lat[0], lon[2], lat[2])[2] == pytest.approx(10.0, rel=0.01)
    assert float(layout.incidence_angle(0)) == pytest.approx(30.3)
    assert 44.0 < float(layout.incidence_angle(layout.samples - 1)) < 47.0
    lines = np.array([0.0, 1234.5, 16703.0])
    pixels = np.array([0.0, 20000.25, 26099.0])
    back = layout.radar_coordinates(*layout.lonlat(lines, pixels))
    assert np.allclose(back[0], lines, atol=1e-5) and np.allclose(back[1], pixels, atol=1e-5)


def test_geolocation_is_not_affine_over_a_full_frame() -> None:
    layout = SceneLayout()
    line, pixel = np.meshgrid(np.linspace(0, 16703, 10), np.linspace(0, 26099, 21), indexing="ij")
    lon, lat = layout.lonlat(line, pixel)
    design = np.column_stack([np.ones(line.size), line.ravel(), pixel.ravel()])
    for values in (lon.ravel(), lat.ravel()):
        residual = values - design @ np.linalg.lstsq(design, values, rcond=None)[0]
        assert np.abs(residual).max() * 111_000 > 20.0  # metres


# --------------------------------------------------------------------------------------
# Product layout and metadata.


def test_product_name_version_and_files(product: Path) -> None:
    assert re.fullmatch(
        r"S1A_IW_GRDH_1SDV_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4}\.SAFE",
        product.name,
    )
    manifest = ET.parse(product / "manifest.safe").getroot()
    software = manifest.find(".//safe:software", MANIFEST_NS)
    assert software is not None and software.get("version") == IPF_VERSION == "003.31"
    hrefs = [
        loc.get("href", "") for loc in manifest.iterfind(".//dataObject/byteStream/fileLocation")
    ]
    assert len(hrefs) == 8
    for data_object in manifest.iterfind("dataObjectSection/dataObject"):
        stream = data_object.find("byteStream")
        assert stream is not None
        location = stream.find("fileLocation")
        checksum = stream.find("checksum")
        assert location is not None and checksum is not None
        path = product / location.get("href", "")
        assert path.is_file()
        assert int(stream.get("size", "-1")) == path.stat().st_size
        assert checksum.text == hashlib.md5(path.read_bytes()).hexdigest()
    on_disk = {p.relative_to(product).as_posix() for p in product.rglob("*") if p.is_file()}
    assert on_disk == {h.removeprefix("./") for h in hrefs} | {"manifest.safe"}
    stem = r"s1a-iw-grd-(vv|vh)-\d{8}t\d{6}-\d{8}t\d{6}-\d{6}-[0-9a-f]{6}-00[12]"
    for pattern in (
        rf"\./measurement/{stem}\.tiff",
        rf"\./annotation/{stem}\.xml",
        rf"\./annotation/calibration/calibration-{stem}\.xml",
        rf"\./annotation/calibration/noise-{stem}\.xml",
    ):
        assert len([h for h in hrefs if re.fullmatch(pattern, h)]) == 2, pattern


def test_manifest_links_each_measurement_to_its_annotations(product: Path) -> None:
    manifest = ET.parse(product / "manifest.safe").getroot()
    objects = {o.get("ID"): o for o in manifest.iterfind("dataObjectSection/dataObject")}
    metadata = {o.get("ID"): o for o in manifest.iterfind("metadataSection/metadataObject")}
    units = [
        u
        for u in manifest.iterfind(".//xfdu:contentUnit", MANIFEST_NS)
        if u.get("unitType") == "Measurement Data Unit"
    ]
    assert len(units) == 2
    for unit in units:
        pointer = unit.find("dataObjectPointer")
        assert pointer is not None
        measurement = objects[pointer.get("dataObjectID")]
        assert measurement.get("repID") == "s1Level1MeasurementSchema"
        schemas = set()
        for meta_id in unit.get("dmdID", "").split():
            meta_pointer = metadata[meta_id].find("dataObjectPointer")
            assert meta_pointer is not None
            schemas.add(objects[meta_pointer.get("dataObjectID")].get("repID"))
        assert schemas == {
            "s1Level1ProductSchema",
            "s1Level1NoiseSchema",
            "s1Level1CalibrationSchema",
        }


def test_zip_has_the_safe_folder_as_its_single_top_level_entry(zipped: Path, product: Path) -> None:
    assert zipped.name == product.name.replace(".SAFE", ".zip")
    with zipfile.ZipFile(zipped) as bundle:
        names = bundle.namelist()
        assert {n.split("/", 1)[0] for n in names} == {product.name}
        manifest = ET.fromstring(bundle.read(f"{product.name}/manifest.safe"))
        for location in manifest.iterfind(".//dataObject/byteStream/fileLocation"):
            href = location.get("href", "").removeprefix("./")
            assert f"{product.name}/{href}" in names
    assert not [p for p in zipped.parent.iterdir() if p != zipped]  # no partial leftovers
    assert SyntheticS1Scene.from_product(zipped) == SyntheticS1Scene.from_product(product)


def test_xml_has_reader_paths_consistent_counts_and_real_order(product: Path) -> None:
    for name, root in _xml_files(product).items():
        for path in READER_PATHS[_kind(name)]:
            assert root.find(path, MANIFEST_NS) is not None, f"{name}: {path}"
        for element in root.iter():
            if "count" not in element.attrib:
                continue
            expected = int(element.attrib["count"])
            found = len(element) if len(element) or not element.text else len(element.text.split())
            assert found == expected, f"{name}: {element.tag}"


def test_reader_paths_and_element_order_follow_the_real_sample(
    shared_data: Path, product: Path
) -> None:
    real = _real_xml_files(shared_data)
    ours = _xml_files(product)
    for kind in READER_PATHS:
        real_root = next(root for name, root in real.items() if _kind(name) == kind)
        for path in READER_PATHS[kind]:
            assert real_root.find(path, MANIFEST_NS) is not None, f"real {kind}: {path}"
        real_order = _child_order(real_root)
        for name, root in ours.items():
            if _kind(name) != kind or kind == "manifest":
                continue
            for path, tags in _child_order(root).items():
                assert path in real_order, f"{name}: {path} is not in the real layout"
                assert _is_subsequence(tags, real_order[path]), f"{name}: order under {path}"


def test_luts_cover_the_image_like_real_ones(product: Path, scene: SyntheticS1Scene) -> None:
    calibration = ET.parse(
        next((product / "annotation/calibration").glob("calibration-*vv*"))
    ).getroot()
    vectors = calibration.findall("calibrationVectorList/calibrationVector")
    lines = [int(v.findtext("line", "-1")) for v in vectors]
    assert lines[0] == 0 and lines[-1] > LINES - 1 and lines == sorted(lines)
    sigma = _floats(vectors[0].find("sigmaNought"))
    pixels = _floats(vectors[0].find("pixel"))
    assert pixels[0] == 0 and pixels[-1] == SAMPLES - 1
    assert np.all((sigma > 400) & (sigma < 700)) and np.all(np.diff(sigma) < 0)
    assert np.all(_floats(vectors[0].find("betaNought")) == 474.0)
    noise = ET.parse(next((product / "annotation/calibration").glob("noise-*vv*"))).getroot()
    range_vectors = noise.findall("noiseRangeVectorList/noiseRangeVector")
    assert int(range_vectors[-1].findtext("line", "-1")) == LINES - 1
    assert all(np.all(_floats(v.find("noiseRangeLut")) > 0) for v in range_vectors)
    azimuth = noise.findall("noiseAzimuthVectorList/noiseAzimuthVector")
    assert [v.findtext("swath") for v in azimuth] == ["IW1", "IW2", "IW3"]
    firsts = [int(v.findtext("firstRangeSample", "-1")) for v in azimuth]
    lasts = [int(v.findtext("lastRangeSample", "-1")) for v in azimuth]
    assert firsts[0] == 0 and lasts[-1] == SAMPLES - 1
    assert [f - 1 for f in firsts[1:]] == lasts[:-1]
    range_pixels = _floats(range_vectors[0].find("pixel")).astype(int)
    assert set(firsts) | set(lasts) <= set(range_pixels.tolist())
    for vector in azimuth:
        lut = _floats(vector.find("noiseAzimuthLut"))
        assert np.all((lut >= 1.0) & (lut < 1.2))
    annotation = _annotation(product, "VV")
    merged = [
        (int(b.findtext("firstRangeSample", "-1")), int(b.findtext("lastRangeSample", "-1")))
        for b in annotation.iterfind(_SWATH_BOUNDS)
    ]
    assert merged == list(zip(firsts, lasts, strict=True))
    assert [(s.first_sample, s.last_sample) for s in scene.swaths] == merged


def test_geolocation_grid_is_ten_by_twenty_one_and_matches_the_layout(
    product: Path, scene: SyntheticS1Scene
) -> None:
    points = _annotation(product, "VV").findall(_GRID_POINT)
    assert len(points) == 210
    line = np.array([int(p.findtext("line", "-1")) for p in points])
    pixel = np.array([int(p.findtext("pixel", "-1")) for p in points])
    assert np.unique(line).size == 10 and np.unique(pixel).size == 21
    assert (line.min(), line.max(), pixel.min(), pixel.max()) == (0, LINES - 1, 0, SAMPLES - 1)
    lon = np.array([float(p.findtext("longitude", "nan")) for p in points])
    lat = np.array([float(p.findtext("latitude", "nan")) for p in points])
    expected_lon, expected_lat = scene.layout.lonlat(line, pixel)
    assert np.allclose(lon, expected_lon, atol=1e-9) and np.allclose(lat, expected_lat, atol=1e-9)
    incidence = np.array([float(p.findtext("incidenceAngle", "nan")) for p in points])
    assert np.all((incidence > 30) & (incidence < 32))
    slant = np.array([float(p.findtext("slantRangeTime", "nan")) for p in points]) * 299_792_458 / 2
    conversion = _annotation(product, "VV").find(_CONVERSION)
    assert conversion is not None
    ground_to_slant = np.polynomial.Polynomial(_floats(conversion.find("grsrCoefficients")))
    slant_to_ground = np.polynomial.Polynomial(_floats(conversion.find("srgrCoefficients")))
    sr0 = float(conversion.findtext("sr0", "nan"))
    assert np.allclose(ground_to_slant(pixel * 10.0), slant, atol=0.01)
    assert np.allclose(slant_to_ground(slant - sr0), pixel * 10.0, atol=0.01)


# --------------------------------------------------------------------------------------
# GDAL's SAFE driver and the measurement GeoTIFFs.


def _check_gdal_safe(manifest: str, product: Path) -> None:
    with rasterio.open(manifest) as src:
        assert src.driver == "SAFE"
        assert (src.width, src.height, src.count) == (SAMPLES, LINES, 2)
        assert [src.tags(b)["POLARIZATION"] for b in (1, 2)] == ["VV", "VH"]
        assert any(s.endswith(":IW_VV:AMPLITUDE") for s in src.subdatasets)
        assert any(s.endswith(":IW_VH:AMPLITUDE") for s in src.subdatasets)
        gcps, crs = src.gcps
        assert crs is not None and crs.to_epsg() == 4326
        points = _annotation(product, "VV").findall(_GRID_POINT)
        assert len(gcps) == len(points) == 210
        for gcp, point in zip(gcps, points, strict=True):
            assert (gcp.row, gcp.col) == (
                float(point.findtext("line", "")),
                float(point.findtext("pixel", "")),
            )
            assert gcp.x == pytest.approx(float(point.findtext("longitude", "")), abs=1e-9)
            assert gcp.y == pytest.approx(float(point.findtext("latitude", "")), abs=1e-9)
        with rasterio.open(_measurement(product, "VV")) as tiff:
            assert np.array_equal(
                src.read(1, window=Window(0, 0, 64, 32)), tiff.read(1, window=Window(0, 0, 64, 32))
            )


def test_gdal_safe_driver_opens_the_folder(product: Path) -> None:
    _check_gdal_safe(str(product / "manifest.safe"), product)


def test_gdal_safe_driver_opens_the_zip(zipped: Path, product: Path) -> None:
    _check_gdal_safe(f"/vsizip/{zipped}/{product.name}/manifest.safe", product)


def test_measurement_tiffs_are_tiled_compressed_uint16_with_gcps(product: Path) -> None:
    annotation_points = _annotation(product, "VH").findall(_GRID_POINT)
    with rasterio.open(_measurement(product, "VH")) as src:
        profile = src.profile
        assert profile["dtype"] == "uint16" and profile["count"] == 1
        assert profile["tiled"] and (profile["blockxsize"], profile["blockysize"]) == (512, 512)
        assert profile["compress"] == "deflate"
        gcps, crs = src.gcps
        assert crs.to_epsg() == 4326 and len(gcps) == len(annotation_points)
        assert gcps[-1].x == pytest.approx(float(annotation_points[-1].findtext("longitude", "")))
        assert src.tags()["TIFFTAG_SOFTWARE"] == f"Sentinel-1 IPF {IPF_VERSION}"


def test_medium_size_is_honoured_with_tiled_compressed_rasters(tmp_path: Path) -> None:
    path = write_synthetic_s1(
        tmp_path, lines=2048, samples=3072, polarisations=("VV",), tile=256, landcover_step=4
    )
    assert "_1SSV_" in path.name
    with rasterio.open(path / "manifest.safe") as safe:
        assert (safe.width, safe.height, safe.count) == (3072, 2048, 1)
    with rasterio.open(_measurement(path, "VV")) as src:
        assert (src.width, src.height) == (3072, 2048)
        assert src.block_shapes == [(256, 256)]
        assert src.profile["compress"] == "deflate"
        assert src.read(1, window=Window(1500, 2000, 8, 8)).min() > 0
    size = sum(p.stat().st_size for p in path.rglob("*.tiff"))
    assert size < 0.9 * 2048 * 3072 * 2


def test_esa_layout_is_uncompressed_line_strips_holding_the_same_dn(
    tmp_path: Path, product: Path
) -> None:
    esa = write_synthetic_s1(tmp_path, lines=LINES, samples=SAMPLES, seed=3, compress="none")
    with rasterio.open(_measurement(esa, "VV")) as src:
        assert not src.profile["tiled"] and src.block_shapes == [(1, SAMPLES)]
        assert src.profile.get("compress") is None
        assert src.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") is None
        strips = src.read(1)
    with rasterio.open(_measurement(product, "VV")) as src:
        np.testing.assert_array_equal(strips, src.read(1))


# --------------------------------------------------------------------------------------
# The DN follow the model.


def test_calibrated_dn_match_the_truth_with_the_speckle_of_the_looks(
    product: Path, scene: SyntheticS1Scene
) -> None:
    window = Window(0, 0, SAMPLES, LINES)
    valid = scene.valid_mask(window)
    amplitude = scene.calibration_amplitude(window)
    noise = scene.noise_power(window)
    classes = scene.classes(window)
    for pol in ("VV", "VH"):
        with rasterio.open(_measurement(product, pol)) as src:
            dn = src.read(1).astype(np.float64)
        truth = true_sigma0(product, pol, window)
        assert np.array_equal(truth, scene.sigma0(pol, window))
        estimate = (dn**2 - noise) / amplitude**2
        ratio = (estimate / truth)[valid]
        assert ratio.mean() == pytest.approx(1.0, abs=0.01)
        assert ratio.std() / ratio.mean() == pytest.approx(1 / math.sqrt(LOOKS), rel=0.03)
        # Homogeneous areas: blocks of 20 x 20 pixels of a single class.
        blocks = classes[: LINES // 20 * 20, : SAMPLES // 20 * 20].reshape(LINES // 20, 20, -1, 20)
        uniform = blocks.min(axis=(1, 3)) == blocks.max(axis=(1, 3))
        uniform_pixels = np.repeat(np.repeat(uniform, 20, 0), 20, 1)
        region = np.zeros_like(valid)
        region[: uniform_pixels.shape[0], : uniform_pixels.shape[1]] = uniform_pixels
        tested = 0
        for cover in LandCover:
            area = region & valid & (classes == cover)
            if area.sum() < 4_000:
                continue
            tested += 1
            mean_estimate = estimate[area].mean()
            assert mean_estimate == pytest.approx(truth[area].mean(), rel=0.04), cover.name
            cv = np.std(estimate[area] / truth[area])
            assert cv == pytest.approx(1 / math.sqrt(LOOKS), rel=0.08), cover.name
        assert tested >= 3


def test_nodata_border_is_a_few_ragged_pixels_at_both_line_ends(
    product: Path, scene: SyntheticS1Scene
) -> None:
    with rasterio.open(_measurement(product, "VV")) as src:
        dn = src.read(1)
    valid = scene.valid_mask(Window(0, 0, SAMPLES, LINES))
    assert np.array_equal(dn > 0, valid)
    near = np.argmax(valid, axis=1)
    far = SAMPLES - 1 - np.argmax(valid[:, ::-1], axis=1)
    assert near.min() >= 3 and near.max() <= 10 and np.unique(near).size >= 3
    assert (SAMPLES - 1 - far).min() >= 3 and (SAMPLES - 1 - far).max() <= 10
    assert np.all(dn[:, 12:-12] > 0)


def test_truth_windows_agree_with_the_whole_scene(scene: SyntheticS1Scene) -> None:
    whole = scene.sigma0("VH", Window(0, 0, SAMPLES, LINES))
    part = true_sigma0(scene, "VH", Window(101, 37, 250, 123))
    assert np.array_equal(part, whole[37:160, 101:351])
    from_layout = true_sigma0(scene.layout, "VH", Window(101, 37, 250, 123), seed=scene.seed)
    assert np.array_equal(from_layout, part)
    with pytest.raises(UsageError):
        scene.sigma0("VV", Window(0, 0, SAMPLES + 1, 10))


def test_writing_is_deterministic_and_refuses_to_overwrite(tmp_path: Path, product: Path) -> None:
    again = write_synthetic_s1(tmp_path, lines=LINES, samples=SAMPLES, seed=3)
    assert again.name == product.name
    for pol in ("VV", "VH"):
        with (
            rasterio.open(_measurement(product, pol)) as a,
            rasterio.open(_measurement(again, pol)) as b,
        ):
            assert np.array_equal(a.read(1), b.read(1))
    for name in ("manifest.safe", "annotation"):
        assert _xml_texts(product / name) == _xml_texts(again / name)
    with pytest.raises(GeocolorError, match="already exists"):
        write_synthetic_s1(tmp_path, lines=LINES, samples=SAMPLES, seed=3)
    other = write_synthetic_s1(tmp_path, lines=LINES, samples=SAMPLES, seed=4)
    with (
        rasterio.open(_measurement(other, "VV")) as a,
        rasterio.open(_measurement(again, "VV")) as b,
    ):
        assert not np.array_equal(a.read(1), b.read(1))


def _xml_texts(path: Path) -> list[bytes]:
    files = [path] if path.is_file() else sorted(path.rglob("*.xml"))
    return [f.read_bytes() for f in files]


def test_bad_arguments_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        write_synthetic_s1(tmp_path, lines=64, samples=64, polarisations=("HH", "HV"))
    with pytest.raises(UsageError):
        write_synthetic_s1(tmp_path, lines=64, samples=64, tile=100)
    assert not list(tmp_path.iterdir())
