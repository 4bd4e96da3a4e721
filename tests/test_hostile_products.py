"""Crafted products are refused, whoever hands them over: the CLI, or an app upload.

Every case of :mod:`tests.hostile_products` must end in a one-line error with exit 1,
write nothing, pass on no byte of the file it aims at and send no request to the URL
it aims at (a local server counts them). The corpus is checked to be hostile in the
first place: opened as GDAL would open it unguarded, it does read the file and fetch
the URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.errors import RasterioError

from geocolor.app.uploads import UploadLimits, accept_upload
from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import GeocolorError
from geocolor.io.product_files import (
    S1_MEASUREMENT_DRIVERS,
    confine_href,
    open_product_raster,
    product_gdal_env,
)
from tests.hostile_products import (
    S1_CASES,
    S2_CASES,
    SECRET_MARK,
    Targets,
    copy_product,
    measurement,
    raw_band_vrt,
    simple_source_vrt,
    upload_zip,
    vrt_reading_a_file,
    write_secret,
)
from tests.scene_factory import tiny_registry
from tests.servers import serving

LAYOUT = SceneLayout(lines=200, samples=256)
LIMITS = UploadLimits(max_bytes=8 << 20, max_extracted_bytes=32 << 20)
TILE = ["--tile-size", "64"]
# why each case is refused, as the error says it
UNREADABLE = "cannot open raster as GTiff"
OUTSIDE = "outside the product"
REASONS = {
    "vrt-reading-a-file": UNREADABLE,
    "vrt-fetching-a-url": UNREADABLE,
    "absolute-href": OUTSIDE,
    "parent-href": OUTSIDE,
    "link-out-of-the-product": OUTSIDE,
    "zip-slip": OUTSIDE,
    "non-tiff-measurement": UNREADABLE,
}
S2_REASONS = {
    "s2-band-vrt": "B04_10m.jp2: cannot open raster as JP2OpenJPEG",
    "s2-band-file-vrt": "B04.vrt: a .vrt file is not allowed",
}
UPLOAD_REASONS = {
    **REASONS,
    "link-out-of-the-product": "holds a symbolic link",
    "zip-slip": "unsafe path",
}


class _Counting(BaseHTTPRequestHandler):
    """Counts every request and answers 404."""

    state: Any

    def do_GET(self) -> None:
        self._count()

    def do_HEAD(self) -> None:
        self._count()

    def _count(self) -> None:
        self.state.requests += 1
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Silent."""


@pytest.fixture
def server() -> Iterator[Any]:
    with serving(_Counting, SimpleNamespace(requests=0)) as state:
        yield state


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("originals")
    return (
        write_synthetic_s1(folder, layout=LAYOUT, seed=1, tile=64),
        write_synthetic_s2(folder, layout=LAYOUT, seed=1),
    )


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with tiny_registry(tmp_path_factory.mktemp("mlflow")):
        yield "models:/geocolor@prod-candidate"


def output(folder: Path, name: str) -> Path:
    """``name`` in a new, empty output folder."""
    (folder / "out").mkdir()
    return folder / "out" / name


def targets(folder: Path, url: str) -> Targets:
    secret = write_secret(folder / "secret.txt", 2 * LAYOUT.lines * LAYOUT.samples)
    return Targets(secret, f"{url}/elsewhere.tif")


def assert_refused(code: int, err: str, out: Path, where: Path) -> None:
    """Exit 1, one line, nothing in the output folder, and the secret in no file but its own."""
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert list(out.parent.iterdir()) == []
    for path in where.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.name != "secret.txt":
            assert SECRET_MARK not in path.read_bytes(), path


def test_the_corpus_is_hostile_to_an_unguarded_gdal(tmp_path: Path, server: Any) -> None:
    """Opened as rasterio would by default, the VRTs read the file and fetch the URL."""
    aims = targets(tmp_path, server.base_url)
    raw = tmp_path / "raw.tiff"
    raw.write_bytes(raw_band_vrt(64, 4, str(aims.secret)))
    with rasterio.open(raw) as src:
        assert SECRET_MARK in src.read(1).tobytes()
    fetching = tmp_path / "fetching.tiff"
    fetching.write_bytes(simple_source_vrt(64, 4, "UInt16", f"/vsicurl/{aims.url}"))
    with pytest.raises(RasterioError), rasterio.open(fetching) as src:
        src.read(1)
    assert server.requests > 0


@pytest.mark.parametrize("case", sorted(S1_CASES))
@pytest.mark.parametrize("command", ["process-s1", "prepare", "colorize"])
def test_the_cli_refuses_a_crafted_s1_product(
    case: str,
    command: str,
    originals: tuple[Path, Path],
    model_uri: str,
    tmp_path: Path,
    server: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s1, s2 = originals
    product = S1_CASES[case](copy_product(s1, tmp_path / "in"), targets(tmp_path, server.base_url))
    out = output(tmp_path, "store.zarr" if command == "prepare" else "out.tif")
    args = {
        "process-s1": ["process-s1", str(product)],
        "prepare": ["prepare", "--s1", str(product), "--s2", str(s2), *TILE],
        "colorize": ["colorize", str(product), "--model", model_uri],
    }[command]
    capsys.readouterr()
    code = main(["--quiet", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert_refused(code, err, out, tmp_path)
    assert REASONS[case] in err
    assert server.requests == 0


@pytest.mark.parametrize("case", sorted(S2_CASES))
def test_prepare_refuses_a_crafted_s2_product(
    case: str,
    originals: tuple[Path, Path],
    tmp_path: Path,
    server: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s1, s2 = originals
    product = S2_CASES[case](copy_product(s2, tmp_path / "in"), targets(tmp_path, server.base_url))
    out = output(tmp_path, "store.zarr")
    capsys.readouterr()
    args = ["prepare", "--s1", str(s1), "--s2", str(product), *TILE]
    code = main(["--quiet", *args, "-o", str(out)])
    err = capsys.readouterr().err
    assert_refused(code, err, out, tmp_path)
    assert S2_REASONS[case] in err
    assert server.requests == 0


@pytest.mark.parametrize("case", sorted(S1_CASES))
def test_an_upload_of_a_crafted_product_is_refused_and_leaves_nothing(
    case: str, originals: tuple[Path, Path], tmp_path: Path, server: Any
) -> None:
    product = S1_CASES[case](
        copy_product(originals[0], tmp_path / "in"), targets(tmp_path, server.base_url)
    )
    uploads = tmp_path / "uploads"
    with upload_zip(product).open("rb") as data, pytest.raises(GeocolorError) as refused:
        accept_upload("scene.zip", data, uploads, LIMITS)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and UPLOAD_REASONS[case] in message
    assert str(uploads) not in message  # the server's folders stay its own
    assert list(uploads.iterdir()) == []
    assert server.requests == 0


def test_the_untouched_product_is_accepted(originals: tuple[Path, Path], tmp_path: Path) -> None:
    """The guards refuse the crafted products, not products as such."""
    product = copy_product(originals[0], tmp_path / "in")
    with upload_zip(product).open("rb") as data:
        accepted = accept_upload("scene.zip", data, tmp_path / "uploads", LIMITS)
    assert (accepted / "manifest.safe").is_file()


def test_a_vrt_is_refused_whatever_its_name(originals: tuple[Path, Path], tmp_path: Path) -> None:
    safe = vrt_reading_a_file(
        copy_product(originals[0], tmp_path), targets(tmp_path, "http://127.0.0.1:9")
    )
    with (
        pytest.raises(GeocolorError, match="cannot open raster as GTiff"),
        open_product_raster(str(measurement(safe)), S1_MEASUREMENT_DRIVERS),
    ):
        pass
    renamed = measurement(safe).with_suffix(".vrt")
    measurement(safe).rename(renamed)
    with (
        pytest.raises(GeocolorError, match=r"a \.vrt file is not allowed"),
        open_product_raster(str(renamed), S1_MEASUREMENT_DRIVERS),
    ):
        pass


def test_the_gdal_environment_alone_reaches_no_url(tmp_path: Path, server: Any) -> None:
    """Even a VRT opened with the VRT driver fetches nothing under the product settings."""
    vrt = tmp_path / "fetching.vrt"
    vrt.write_bytes(simple_source_vrt(64, 4, "UInt16", f"/vsicurl/{server.base_url}/x.tif"))
    with product_gdal_env(str(vrt)):
        with pytest.raises(RasterioError):
            rasterio.open(f"/vsicurl/{server.base_url}/y.tif")
        with pytest.raises(RasterioError), rasterio.open(vrt) as src:
            src.read(1)
    assert server.requests == 0


def test_the_gdal_environment_reads_no_sidecar_file(tmp_path: Path) -> None:
    """A ``.aux.xml`` beside a raster would change its nodata: under the settings it is unseen."""
    tiff = tmp_path / "band.tif"
    profile = {"driver": "GTiff", "width": 8, "height": 8, "count": 1, "dtype": "uint16"}
    with rasterio.open(tiff, "w", **profile) as dst:
        dst.write(np.ones((1, 8, 8), dtype=np.uint16))
    aux = '<PAMRasterBand band="1"><NoDataValue>1</NoDataValue></PAMRasterBand>'
    (tmp_path / "band.tif.aux.xml").write_text(f"<PAMDataset>{aux}</PAMDataset>")
    with rasterio.open(tiff) as src:
        assert src.nodata == 1  # what an unguarded open believes
    with open_product_raster(str(tiff), S1_MEASUREMENT_DRIVERS) as src:
        assert src.nodata is None


@pytest.mark.parametrize(
    "href", ["/etc/passwd", "../x.tiff", "measurement/../../x.tiff", "gs://bucket/x.tiff", ""]
)
def test_an_href_out_of_the_product_is_refused(tmp_path: Path, href: str) -> None:
    with pytest.raises(GeocolorError, match="outside the product"):
        confine_href(str(tmp_path), href, "manifest.safe", local=True)


def test_an_href_inside_the_product_is_kept(tmp_path: Path) -> None:
    inside = tmp_path / "measurement" / "a.tiff"
    inside.parent.mkdir()
    inside.touch()
    (tmp_path / "link.tiff").symlink_to(inside)
    assert confine_href(str(tmp_path), "./measurement/a.tiff", "m", local=True) == str(inside)
    assert confine_href(str(tmp_path), "link.tiff", "m", local=True) == str(tmp_path / "link.tiff")
