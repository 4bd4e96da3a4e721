"""Uploads: only a georeferenced GeoTIFF or a harmless SAFE zip gets through."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geocolor.app.uploads import UploadLimits, accept_upload, safe_filename
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import GeocolorError
from tests.scene_factory import write_scene

LIMITS = UploadLimits(max_bytes=2 << 20, max_extracted_bytes=4 << 20)
SAFE = "S1A_IW_GRDH_1SDV_X.SAFE"


@pytest.fixture(scope="module")
def safe_zip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    folder = tmp_path_factory.mktemp("s1")
    return write_synthetic_s1(folder, lines=64, samples=256, zip=True, tile=64).read_bytes()


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> io.BytesIO:
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    data.seek(0)
    return data


def _leftovers(folder: Path) -> list[Path]:
    return list(folder.rglob("*")) if folder.exists() else []


def test_geotiff_is_kept_under_a_clean_name(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "scene.tif", size=32).read_bytes()
    saved = accept_upload("../../evil name.tif", io.BytesIO(scene), tmp_path / "up", LIMITS)
    assert saved == tmp_path / "up" / hashlib.sha256(scene).hexdigest()[:24] / "evil_name.tif"
    assert saved.read_bytes() == scene
    assert sorted(_leftovers(tmp_path / "up")) == [saved.parent, saved]


def test_identical_uploads_are_kept_once(tmp_path: Path, safe_zip: bytes) -> None:
    first = accept_upload("scene.zip", io.BytesIO(safe_zip), tmp_path / "up", LIMITS)
    os.utime(first.parent, ns=(0, 0))
    again = accept_upload("copy of scene.zip", io.BytesIO(safe_zip), tmp_path / "up", LIMITS)
    assert again == first
    assert len(list((tmp_path / "up").iterdir())) == 1  # no scratch left either
    assert first.parent.stat().st_mtime_ns > 0  # the reuse counts as a use for the cap
    scene = write_scene(tmp_path / "scene.tif", size=32).read_bytes()
    other = accept_upload("scene.tif", io.BytesIO(scene), tmp_path / "up", LIMITS)
    assert other.parent != first.parent


def test_safe_zip_is_extracted_to_its_folder(tmp_path: Path, safe_zip: bytes) -> None:
    saved = accept_upload("scene.zip", io.BytesIO(safe_zip), tmp_path / "up", LIMITS)
    assert saved.parent.parent == tmp_path / "up" and saved.name.endswith(".SAFE")
    assert (saved / "manifest.safe").is_file()
    assert len(list((saved / "measurement").glob("*.tiff"))) == 2


@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [
        ({f"{SAFE}/manifest.safe": b"x", f"{SAFE}/../../escape": b"x"}, (), "unsafe path"),
        ({f"{SAFE}/manifest.safe": b"x", "/etc/cron.d/x": b"x"}, (), "unsafe path"),
        ({f"{SAFE}/manifest.safe": b"x"}, (f"{SAFE}/link",), "symbolic link"),
        ({f"{SAFE}/manifest.safe": b"x", f"{SAFE}/bomb": bytes(1 << 20)}, (), "zip bomb"),
        ({"a.SAFE/manifest.safe": b"x", "b.SAFE/manifest.safe": b"x"}, (), "one NAME.SAFE"),
        ({f"{SAFE}/other.xml": b"x"}, (), "no manifest.safe"),
        ({f"{SAFE}/manifest.safe": b"<not-a-manifest/>"}, (), "not a valid Sentinel-1"),
    ],
)
def test_harmful_or_wrong_zips_are_refused(
    tmp_path: Path, entries: dict[str, bytes], links: tuple[str, ...], message: str
) -> None:
    with pytest.raises(GeocolorError, match=message) as caught:
        accept_upload("upload.zip", _zip(entries, links), tmp_path / "up", LIMITS)
    assert str(caught.value).startswith("upload.zip: ")
    assert str(tmp_path) not in str(caught.value)  # names, never the server's folders
    assert _leftovers(tmp_path / "up") == []
    assert not (tmp_path / "escape").exists()


def test_total_extracted_size_is_capped(tmp_path: Path) -> None:
    # incompressible entries: each ratio is fine, the total is not
    noise = [bytes(range(256)) * 4096, bytes(range(255, -1, -1)) * 4096]
    entries = {f"{SAFE}/manifest.safe": b"x"} | {f"{SAFE}/part{i}": noise[i % 2] for i in range(5)}
    limits = UploadLimits(max_bytes=8 << 20, max_extracted_bytes=4 << 20, max_ratio=1e9)
    with pytest.raises(GeocolorError, match="extracts to more than the 4 MiB limit"):
        accept_upload("big.zip", _zip(entries), tmp_path / "up", limits)


def test_size_cap_and_wrong_content(tmp_path: Path) -> None:
    with pytest.raises(GeocolorError, match="larger than the 2 MiB limit"):
        accept_upload("x.tif", io.BytesIO(b"II*\x00" + bytes(3 << 20)), tmp_path, LIMITS)
    with pytest.raises(GeocolorError, match="neither a GeoTIFF nor a zipped"):
        accept_upload("x.tif", io.BytesIO(b"%PDF-1.4 hello"), tmp_path, LIMITS)
    with pytest.raises(GeocolorError, match="upload is empty"):
        accept_upload("x.tif", io.BytesIO(b""), tmp_path, LIMITS)
    with pytest.raises(GeocolorError, match="not a readable GeoTIFF"):
        accept_upload("x.tif", io.BytesIO(b"II*\x00garbage"), tmp_path, LIMITS)
    assert _leftovers(tmp_path) == []


def test_tiff_without_georeference_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tif"
    profile = {"driver": "GTiff", "width": 4, "height": 4, "count": 1, "dtype": "uint8"}
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(np.zeros((1, 4, 4), dtype=np.uint8))
    with pytest.raises(GeocolorError, match="no CRS or geotransform"):
        accept_upload("plain.tif", io.BytesIO(plain.read_bytes()), tmp_path / "up", LIMITS)


def test_safe_filename() -> None:
    assert safe_filename("C:\\Users\\me\\scene 1.tif") == "scene_1.tif"
    assert safe_filename("..hidden") == "hidden"
    with pytest.raises(GeocolorError):
        safe_filename("../..")
