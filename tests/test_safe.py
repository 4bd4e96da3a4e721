"""The SAFE reader on the two real products, completed with a synthetic DN raster.

The real zips carry genuine manifests and annotations but an empty ``measurement/``;
each test writes a full-size uint16 GeoTIFF whose only stored tiles hold a small DN
patch (GDAL's sparse tiles read as 0, the no-data border value), so it stays tiny.
"""

from __future__ import annotations

import re
import shutil
import struct
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dask.array as da
import fsspec
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.control import GroundControlPoint
from rasterio.windows import Window

from geocolor.errors import GeocolorError
from geocolor.s1.safe import SafeProduct, is_safe, open_safe

PATCH_ROWS = slice(600, 1400)
PATCH_COLS = slice(8400, 9100)


@dataclass(frozen=True)
class Expected:
    """Values read by eye from the sample's manifest and annotation XML."""

    zip_name: str
    ipf_version: str
    lines: int
    samples: int
    orbit_pass: str
    absolute_orbit: int
    start_time: datetime
    first_grid_point: tuple[float, float]


PRODUCTS = [
    Expected(
        "S1A_IW_GRDH_1SDV_20210119T031653_20210119T031718_036201_043ED0_8255.zip",
        "003.31",
        16854,
        25931,
        "DESCENDING",
        36201,
        datetime(2021, 1, 19, 3, 16, 53, 799379, tzinfo=UTC),
        (3.498272513645960e01, -1.769892962456625e01),
    ),
    Expected(
        "S1A_IW_GRDH_1SDV_20150222T170750_20150222T170815_004739_005DD8_3768.zip",
        "002.36",
        16685,
        25368,
        "ASCENDING",
        4739,
        datetime(2015, 2, 22, 17, 7, 50, 54569, tzinfo=UTC),
        (8.505644309816008, 50.29526024311632),
    ),
]


def dn_pattern(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Non-zero DN depending on the image position, so misplaced windows show."""
    return ((rows[:, None] * 31 + cols[None, :] * 17) % 1000 + 1).astype(np.uint16)


def expected_dn(rows: slice, cols: slice) -> np.ndarray:
    """DN the synthetic raster holds over a window: the pattern in the patch, 0 elsewhere."""
    row_index, col_index = np.arange(rows.start, rows.stop), np.arange(cols.start, cols.stop)
    inside = (
        (row_index[:, None] >= PATCH_ROWS.start)
        & (row_index[:, None] < PATCH_ROWS.stop)
        & (col_index[None, :] >= PATCH_COLS.start)
        & (col_index[None, :] < PATCH_COLS.stop)
    )
    return np.where(inside, dn_pattern(row_index, col_index), 0).astype(np.uint16)


def write_dn_tiff(path: Path, lines: int, samples: int) -> None:
    """Full-size tiled deflate GeoTIFF with only the DN patch stored."""
    gcps = [
        GroundControlPoint(0, 0, 0.0, 0.0),
        GroundControlPoint(0, samples - 1, 1.0, 0.0),
        GroundControlPoint(lines - 1, 0, 0.0, 1.0),
    ]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=samples,
        height=lines,
        count=1,
        dtype="uint16",
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        sparse_ok=True,
        crs="EPSG:4326",
        gcps=gcps,
    ) as dataset:
        patch = dn_pattern(
            np.arange(PATCH_ROWS.start, PATCH_ROWS.stop),
            np.arange(PATCH_COLS.start, PATCH_COLS.stop),
        )
        window = Window.from_slices(PATCH_ROWS, PATCH_COLS)
        dataset.write(patch, 1, window=window)


def measurement_hrefs(manifest: bytes) -> list[str]:
    """Measurement paths the manifest promises, read with a plain regex."""
    return re.findall(r'href="\./(measurement/[^"]+\.tiff)"', manifest.decode())


def rebuild_zip(
    source: Path,
    target: Path,
    replace: dict[str, bytes | None] | None = None,
    add: dict[str, bytes] | None = None,
) -> Path:
    """Copy a zip, replacing (or, with None, dropping) members whose name contains a key."""
    replace = replace or {}
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            hits = [key for key in replace if key in info.filename]
            if not hits:
                new.writestr(info, old.read(info))
            elif (content := replace[hits[0]]) is not None:
                new.writestr(info.filename, content)
        for name, content in (add or {}).items():
            new.writestr(name, content)
    return target


def product_with_rasters(
    source: Path, target: Path, lines: int, samples: int, size: tuple[int, int] | None = None
) -> Path:
    """A copy of a real zip with a DN GeoTIFF for each manifest measurement entry."""
    with zipfile.ZipFile(source) as archive:
        manifest_name = next(n for n in archive.namelist() if n.endswith("manifest.safe"))
        manifest = archive.read(manifest_name)
    tiff = target.with_suffix(".tiff")
    write_dn_tiff(tiff, *(size or (lines, samples)))
    safe_dir = manifest_name.rsplit("/", 1)[0]
    rasters = {f"{safe_dir}/{href}": tiff.read_bytes() for href in measurement_hrefs(manifest)}
    return rebuild_zip(source, target, add=rasters)


@pytest.fixture(params=PRODUCTS, ids=lambda p: p.ipf_version)
def expected(request: pytest.FixtureRequest) -> Expected:
    return request.param


@pytest.fixture
def product_zip(shared_data: Path, expected: Expected, tmp_path: Path) -> Path:
    source = shared_data / "s1" / expected.zip_name
    return product_with_rasters(
        source, tmp_path / expected.zip_name, expected.lines, expected.samples
    )


@pytest.fixture
def real_zip(shared_data: Path) -> Path:
    return shared_data / "s1" / PRODUCTS[0].zip_name


def test_info_matches_the_xml(product_zip: Path, expected: Expected) -> None:
    info = open_safe(str(product_zip)).info
    assert info.product_id == expected.zip_name.removesuffix(".zip")
    assert info.ipf_version == expected.ipf_version
    assert info.polarisations == ("VV", "VH")
    assert (info.lines, info.samples) == (expected.lines, expected.samples)
    assert info.orbit_pass == expected.orbit_pass
    assert info.absolute_orbit == expected.absolute_orbit
    assert info.start_time == expected.start_time
    assert 24 < (info.stop_time - info.start_time).total_seconds() < 26
    assert (info.mission, info.mode, info.product_type) == ("S1A", "IW", "GRD")
    assert info.range_pixel_spacing == 10.0
    assert info.azimuth_pixel_spacing == pytest.approx(10.0, abs=0.01)


def test_geolocation_grid_and_footprint(product_zip: Path, expected: Expected) -> None:
    product = open_safe(product_zip)
    grid = product.geolocation_grid()
    for column in (grid.line, grid.pixel, grid.lon, grid.lat, grid.height):
        assert column.shape == (210,)
        assert column.dtype == np.float64
    assert (grid.lon[0], grid.lat[0]) == expected.first_grid_point
    assert grid.line.max() == expected.lines - 1
    assert grid.pixel.max() == expected.samples - 1
    footprint = product.footprint()
    assert footprint.is_valid
    # The ring runs through the 2 x 21 + 2 x 8 outer points of the 10 x 21 grid.
    assert len(footprint.exterior.coords) == 2 * 21 + 2 * 8 + 1
    assert shapely.contains_xy(footprint.buffer(1e-9), grid.lon, grid.lat).all()
    with zipfile.ZipFile(product_zip) as archive:
        manifest = next(archive.read(n) for n in archive.namelist() if n.endswith("manifest.safe"))
    coordinates = re.search(rb"<gml:coordinates>([^<]+)<", manifest)
    assert coordinates is not None
    manifest_corners = [
        tuple(float(v) for v in pair.split(b",")[::-1]) for pair in coordinates.group(1).split()
    ]
    for corner in manifest_corners:
        assert footprint.exterior.distance(shapely.Point(corner)) < 0.02


def test_read_dn_is_lazy_and_equals_the_raster(product_zip: Path, expected: Expected) -> None:
    dn = open_safe(product_zip).read_dn("vv", chunks=(4096, 4096))
    assert isinstance(dn, da.Array)
    assert dn.dtype == np.uint16
    assert dn.shape == (expected.lines, expected.samples)
    assert len(dn.__dask_graph__()) == dn.npartitions  # one read task per chunk
    rows, cols = slice(500, 1500), slice(8000, 9200)
    np.testing.assert_array_equal(dn[rows, cols].compute(), expected_dn(rows, cols))
    corner = (slice(expected.lines - 5, expected.lines), slice(0, 5))
    np.testing.assert_array_equal(dn[corner].compute(), 0)


def test_read_dn_reads_only_the_chunks_it_needs(
    product_zip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real_open = rasterio.open

    def counting_open(path: str, **kwargs: object) -> object:
        opened.append(path)
        return real_open(path, **kwargs)

    monkeypatch.setattr(rasterio, "open", counting_open)
    dn = open_safe(product_zip).read_dn("VV", chunks=(4096, 4096))
    assert len(opened) == 1  # the header check only
    dn[:10, :10].compute()
    assert len(opened) == 2
    dn[4000:4100, 8000:8300].compute()  # straddles four chunks
    assert len(opened) == 6
    assert all(path.startswith("/vsizip/") for path in opened)


def test_zip_and_extracted_folder_read_the_same(product_zip: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(product_zip) as archive:
        archive.extractall(tmp_path / "extracted")
    folder = next((tmp_path / "extracted").glob("*.SAFE"))
    from_zip, from_folder = open_safe(product_zip), open_safe(f"{folder}/")
    assert from_zip.info == from_folder.info
    grid_zip, grid_folder = from_zip.geolocation_grid(), from_folder.geolocation_grid()
    for name in ("line", "pixel", "lon", "lat", "height"):
        np.testing.assert_array_equal(getattr(grid_zip, name), getattr(grid_folder, name))
    for pol in ("VV", "VH"):
        lut_zip, lut_folder = from_zip.calibration(pol), from_folder.calibration(pol)
        np.testing.assert_array_equal(lut_zip.sigma0, lut_folder.sigma0)
        noise_zip, noise_folder = from_zip.noise(pol), from_folder.noise(pol)
        np.testing.assert_array_equal(noise_zip.lines, noise_folder.lines)
        window = (slice(590, 1410), slice(8390, 9110))
        np.testing.assert_array_equal(
            from_zip.read_dn(pol, chunks=777)[window].compute(),
            from_folder.read_dn(pol, chunks=777)[window].compute(),
        )


def test_fsspec_urls_read_zip_and_folder(product_zip: Path) -> None:
    memory = fsspec.filesystem("memory")
    memory.pipe("/s1-test/product.SAFE.zip", product_zip.read_bytes())
    with zipfile.ZipFile(product_zip) as archive:
        for name in archive.namelist():
            if not name.endswith("/"):
                memory.pipe(f"/s1-test/folder/{name}", archive.read(name))
    safe_name = product_zip.name.replace(".zip", ".SAFE")
    try:
        rows, cols = slice(1300, 1500), slice(9000, 9200)
        for url in ("memory://s1-test/product.SAFE.zip", f"memory://s1-test/folder/{safe_name}"):
            assert is_safe(url)
            product = open_safe(url)
            assert product.info == open_safe(product_zip).info
            dn = product.read_dn("VH", chunks=128)[rows, cols].compute()
            np.testing.assert_array_equal(dn, expected_dn(rows, cols))
        file_url = open_safe(f"file://{product_zip}")
        np.testing.assert_array_equal(
            file_url.read_dn("VV")[rows, cols].compute(), expected_dn(rows, cols)
        )
    finally:
        memory.rm("/s1-test", recursive=True)


def test_is_safe(product_zip: Path, tmp_path: Path) -> None:
    assert is_safe(str(product_zip))
    not_safe = tmp_path / "other.SAFE"
    not_safe.mkdir()
    assert not is_safe(str(not_safe))
    empty_zip = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty_zip, "w") as archive:
        archive.writestr("readme.txt", "no manifest")
    assert not is_safe(str(empty_zip))
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    assert not is_safe(str(text))
    assert not is_safe(str(tmp_path / "missing.SAFE"))
    named_otherwise = tmp_path / "product.tar"
    shutil.copy(product_zip, named_otherwise)
    assert not is_safe(str(named_otherwise))


def error_for(action: object) -> str:
    with pytest.raises(GeocolorError) as caught:
        action()  # type: ignore[operator]
    return str(caught.value)


def test_not_a_safe_names_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "empty.SAFE"
    folder.mkdir()
    assert str(folder) in error_for(lambda: open_safe(folder))
    no_manifest = tmp_path / "bare.zip"
    with zipfile.ZipFile(no_manifest, "w") as archive:
        archive.writestr("bare.SAFE/annotation/x.xml", "<x/>")
    assert "bare.zip" in error_for(lambda: open_safe(no_manifest))
    assert "missing.zip" in error_for(lambda: open_safe(tmp_path / "missing.zip"))


def test_missing_measurement_is_named(real_zip: Path) -> None:
    product = open_safe(real_zip)
    message = error_for(lambda: product.read_dn("VV"))
    assert "measurement/s1a-iw-grd-vv-20210119t031653" in message
    assert str(real_zip) in message


@pytest.mark.parametrize("kind", ["calibration", "noise"])
def test_missing_lut_file_is_named(real_zip: Path, tmp_path: Path, kind: str) -> None:
    member = f"{kind}-s1a-iw-grd-vh-"
    broken = rebuild_zip(real_zip, tmp_path / real_zip.name, replace={member: None})
    product = open_safe(broken)
    message = error_for(lambda: getattr(product, kind)("VH"))
    assert f"annotation/calibration/{member}" in message
    getattr(product, kind)("VV")  # the other polarisation is intact


def test_unknown_polarisation(real_zip: Path) -> None:
    assert "HH" in error_for(lambda: open_safe(real_zip).calibration("HH"))


def test_truncated_and_corrupt_zips_are_named(real_zip: Path, tmp_path: Path) -> None:
    content = real_zip.read_bytes()
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(content[: len(content) // 2])
    assert "truncated.zip" in error_for(lambda: open_safe(truncated))
    garbage = tmp_path / "garbage.SAFE.zip"
    garbage.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 8)
    assert "garbage.SAFE.zip" in error_for(lambda: open_safe(garbage))
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(corrupted_member(real_zip, "calibration-s1a-iw-grd-vv-"))
    message = error_for(lambda: open_safe(corrupt).calibration("VV"))
    assert "corrupt.zip" in message
    assert "calibration-s1a-iw-grd-vv-" in message


def corrupted_member(path: Path, name: str) -> bytes:
    """The zip's bytes with the middle of one member's compressed data flipped."""
    content = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if name in i.filename)
    header = info.header_offset
    name_length, extra_length = struct.unpack("<HH", content[header + 26 : header + 30])
    start = header + 30 + name_length + extra_length + info.compress_size // 2
    damaged = bytes(byte ^ 0x5A for byte in content[start : start + 64])
    return content[:start] + damaged + content[start + 64 :]


def test_raster_size_disagreeing_with_annotation(shared_data: Path, tmp_path: Path) -> None:
    expected = PRODUCTS[0]
    source = shared_data / "s1" / expected.zip_name
    wrong = product_with_rasters(
        source, tmp_path / expected.zip_name, expected.lines, expected.samples, size=(2000, 26000)
    )
    message = error_for(lambda: open_safe(wrong).read_dn("VV"))
    assert "measurement/s1a-iw-grd-vv-" in message
    assert "2000 x 26000" in message
    assert f"{expected.lines} x {expected.samples}" in message


@pytest.mark.parametrize(
    ("member", "call"),
    [
        ("manifest.safe", lambda path: open_safe(path)),
        ("calibration-s1a-iw-grd-vv-", lambda path: open_safe(path).calibration("VV")),
        ("noise-s1a-iw-grd-vv-", lambda path: open_safe(path).noise("VV")),
        ("annotation/s1a-iw-grd-vv-", lambda path: open_safe(path)),
    ],
)
def test_malformed_xml_is_named(real_zip: Path, tmp_path: Path, member: str, call: object) -> None:
    broken = rebuild_zip(
        real_zip, tmp_path / real_zip.name, replace={member: b"<calibration><oops></calibration>"}
    )
    message = error_for(lambda: call(str(broken)))  # type: ignore[operator]
    assert member in message
    assert "malformed XML" in message


def test_product_repr_and_path(real_zip: Path) -> None:
    product = open_safe(real_zip)
    assert isinstance(product, SafeProduct)
    assert product.path == str(real_zip)
    assert real_zip.name in repr(product)
