"""SAFE zips and S3 band windows from the CDSE preset, and ``prepare``/``colorize`` fed
STAC Items."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pystac
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from geocolor.acquire.stac_item import is_stac_item
from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.s1.source import open_s1
from tests.model_factory import NORMALISATION, log_tiny_model
from tests.stac_env import use_cdse_s3_keys, use_stac_server
from tests.stac_fixtures import AOI, PC_S1_ID, cdse, earth_search, planetary_computer
from tests.stac_server import FakeStac, running
from tests.stac_validation import validate

pytestmark = pytest.mark.usefixtures("fresh_plugins")

LAYOUT = SceneLayout(lines=600, samples=800)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]


@pytest.fixture(scope="module")
def safes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("safes")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=1, zip=True)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1, zip=True)
    return s1, s2


@pytest.fixture
def copernicus(
    safes: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[FakeStac]:
    state = FakeStac()
    with running(state):
        cdse(state, *safes)
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        yield state


def centre_aoi(safes: tuple[Path, Path]) -> str:
    """A 0.02 degree box at the centre of the radar scene (inside the optical tile)."""
    centre = open_s1(str(safes[0])).footprint().centroid
    return f"{centre.x - 0.01},{centre.y - 0.01},{centre.x + 0.01},{centre.y + 0.01}"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def cdse_fetch(safes: tuple[Path, Path], output: Path) -> list[str]:
    dates = ["--start", "2021-06-13", "--end", "2021-06-15"]
    area = ["--aoi", centre_aoi(safes)]
    return ["fetch", "--source", "stac:cdse", *area, *dates, "-o", str(output), "--all"]


def test_cdse_safe_zips_resume_after_an_interruption_verify_and_prepare(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s1_asset = copernicus.items[0]["assets"]["PRODUCT"]["href"].split("/assets/", 1)[1]
    copernicus.interrupt.add(s1_asset)
    output = tmp_path / "scenes"
    code, out, err = run([*cdse_fetch(safes, output), "--retry-sleep", "0.01"], capsys)
    assert code == 0, err
    fetched = [Path(line) for line in out.splitlines()]
    assert sorted(path.name for path in fetched) == sorted(path.name for path in safes)
    for path in fetched:
        original = next(safe for safe in safes if safe.name == path.name)
        assert path.read_bytes() == original.read_bytes()
    resumed = [rng for _, path, rng in copernicus.requests_to(f"/assets/{s1_asset}") if rng]
    # one ranged request, from what the cut-off transfer had written (half, in chunks)
    size = len(copernicus.assets[s1_asset])
    assert len(resumed) == 1
    offset = int(resumed[0].removeprefix("bytes=").removesuffix("-"))
    assert 0 < offset <= size // 2
    assert not list(output.glob("*.partial"))
    assert copernicus.access_token not in out + err
    assert copernicus.password not in out + err

    s1, s2 = sorted(fetched, key=lambda path: path.name)
    store = tmp_path / "pairs.zarr"
    code, out, err = run(
        ["prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store), *TILE], capsys
    )
    assert code == 0, err
    assert out.splitlines()[-1] == str(store)


def test_cdse_search_gives_both_products_and_their_pair(
    copernicus: FakeStac, safes: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dates = ["--start", "2021-06-13", "--end", "2021-06-15"]
    args = ["search", "--source", "stac:cdse", "--aoi", centre_aoi(safes), *dates, "--json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    data = json.loads(out)
    assert sorted(p["id"] for p in data["products"]) == sorted(
        item["id"] for item in copernicus.items
    )
    assert len(data["pairs"]) == 1 and data["pairs"][0]["coverage"] == 1.0


def test_an_item_url_of_the_api_is_a_scene_too(planetary: FakeStac) -> None:
    item_url = f"{planetary.stac_url}/collections/sentinel-1-rtc/items/{PC_S1_ID}"
    assert is_stac_item(item_url)
    assert not is_stac_item(f"{planetary.stac_url}/collections/sentinel-1-rtc/items/missing")
    assert not is_stac_item(planetary.items[0]["assets"]["B02"]["href"])
    scene = open_s1(item_url)
    assert scene.info.product_id == PC_S1_ID
    assert scene.info.start_time.isoformat() == "2022-10-04T16:50:00+00:00"


def test_a_wrong_checksum_is_refused_and_nothing_kept(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copernicus.items[0]["assets"]["PRODUCT"]["file:checksum"] = (
        "1620" + hashlib.sha3_256(b"another product").hexdigest()
    )
    output = tmp_path / "scenes"
    code, _, err = run([*cdse_fetch(safes, output), "--mission", "S1"], capsys)
    assert code == 1
    assert "does not match the catalogue's" in err and "discarded" in err
    assert list(output.iterdir()) == []


def test_cdse_downloads_need_a_login_and_never_print_it(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GEOCOLOR_CDSE_PASSWORD")
    code, _, err = run([*cdse_fetch(safes, tmp_path / "a"), "--mission", "S1"], capsys)
    assert code == 2
    assert "set GEOCOLOR_CDSE_TOKEN, or GEOCOLOR_CDSE_USERNAME and GEOCOLOR_CDSE_PASSWORD" in err
    monkeypatch.setenv("GEOCOLOR_CDSE_PASSWORD", "not-the-password")
    code, out, err = run([*cdse_fetch(safes, tmp_path / "b"), "--mission", "S1"], capsys)
    assert code == 1
    assert "CDSE rejected the user name/password" in err
    assert "not-the-password" not in out + err


def write_item(item: dict[str, object], folder: Path) -> Path:
    path = folder / f"{item['id']}.json"
    path.write_text(json.dumps(item))
    return path


def test_colorize_from_a_cdse_item_downloads_its_safe(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    item = write_item(copernicus.items[0], tmp_path)
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    out = tmp_path / "colour.tif"
    args = ["colorize", str(item), "--model", uri, "--aoi", centre_aoi(safes), "-o", str(out)]
    code, printed, err = run(args, capsys)
    assert code == 0, err
    assert printed.strip() == str(out)
    with rasterio.open(out) as colour:
        assert colour.tags()["input_product"] == copernicus.items[0]["id"]
    described = pystac.Item.from_file(str(tmp_path / "colour.json"))
    validate(described)
    (source,) = described.get_links(pystac.RelType.DERIVED_FROM)
    assert source.title == copernicus.items[0]["id"]
    cached = tmp_path / "cache" / "geocolor" / "stac" / copernicus.items[0]["id"]
    assert [path.name for path in cached.iterdir()] == [safes[0].name]


@pytest.fixture
def planetary(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeStac]:
    state = FakeStac()
    with running(state):
        planetary_computer(state)
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        yield state


def test_colorize_from_a_planetary_computer_rtc_item_reads_its_signed_cogs(
    planetary: FakeStac,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    rtc = next(item for item in planetary.items if item["id"] == PC_S1_ID)
    item = write_item(rtc, tmp_path)
    rtc_bands = ("VV gamma0-rtc dB", "VH gamma0-rtc dB")
    flattened = dataclasses.replace(NORMALISATION, sar_bands=rtc_bands)
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", normalisation=flattened)
    out = tmp_path / "colour.tif"
    code, printed, err = run(
        ["colorize", str(item), "--model", uri, "--aoi", AOI, "-o", str(out)], capsys
    )
    assert code == 0, err
    assert printed.strip() == str(out)
    with rasterio.open(out) as colour:
        assert colour.tags()["input_product"] == PC_S1_ID
        assert colour.crs.to_epsg() == 32633
    validate(pystac.Item.from_file(str(tmp_path / "colour.json")))
    assert planetary.requests_to("/sas/sentinel1euwest/s1-rtc")


def test_prepare_from_a_planetary_computer_s1_item_and_an_earth_search_s2_item(
    planetary: FakeStac,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rtc = next(item for item in planetary.items if item["id"] == PC_S1_ID)
    s1_item = write_item(rtc, tmp_path)
    earth_search(planetary)
    s2_item = write_item(planetary.items[0], tmp_path)
    config = tmp_path / "prepare.yaml"
    config.write_text("s1:\n  measure: gamma0-rtc\n  speckle: none\n")
    store = tmp_path / "pairs.zarr"
    args = ["prepare", "--s1", str(s1_item), "--s2", str(s2_item), "-o", str(store)]
    code, out, err = run([*args, "--config", str(config), *TILE], capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == str(store)


def test_cdse_s2_windows_are_read_from_its_s3_bucket_with_the_s3_keys(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_cdse_s3_keys(monkeypatch, copernicus)
    output = tmp_path / "scenes"
    code, out, err = run([*cdse_fetch(safes, output), "--mission", "S2"], capsys)
    assert code == 0, err
    folder = output / "S2_20210614T095200"
    assert out.splitlines() == [str(folder)]
    reads = [
        entry for entry in copernicus.log if entry[0] == "GET" and entry[1].startswith("/eodata/")
    ]
    # windows only: ranged reads, and per file at most one plain GET, the size probe
    # GDAL makes instead of a HEAD, which a presigned GET URL does not allow
    probes = [path for _, path, range_header in reads if not range_header]
    assert len(probes) == len(set(probes)) <= 5
    assert len(reads) > len(probes)
    assert not copernicus.requests_to("/assets/odata")  # no zip, no OData node
    assert copernicus.s3_secret_key not in out + err
    for band in ("B02", "B04", "SCL"):
        member = next(
            name
            for name in zipfile.ZipFile(safes[1]).namelist()
            if name.endswith(f"_{band}_{'20m' if band == 'SCL' else '10m'}.jp2")
        )
        with rasterio.open(folder / f"S2_20210614T095200_{band}.tif") as fetched:
            values = fetched.read(1)
            assert fetched.tags()["BOA_ADD_OFFSET"] == "0"
            resampling = Resampling.nearest if band == "SCL" else Resampling.bilinear
            with (
                rasterio.open(f"/vsizip/{safes[1]}/{member}") as local,
                WarpedVRT(
                    local,
                    crs=fetched.crs,
                    transform=fetched.transform,
                    width=fetched.width,
                    height=fetched.height,
                    resampling=resampling,
                    src_nodata=0,
                    nodata=0,
                ) as warped,
            ):
                expected = warped.read(1).astype(np.int32)
        valid = expected > 0
        assert valid.mean() > 0.9
        # baseline 04.00 (processing:version): the stored DNs carry +1000
        shift = 0 if band == "SCL" else 1000
        np.testing.assert_array_equal(values[valid], expected[valid] - shift)


def test_cdse_s3_reads_are_refused_with_a_wrong_secret(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_cdse_s3_keys(monkeypatch, copernicus)
    monkeypatch.setenv("GEOCOLOR_CDSE_S3_SECRET_KEY", "not-the-secret")
    code, out, err = run([*cdse_fetch(safes, tmp_path / "a"), "--mission", "S2"], capsys)
    assert code == 1
    assert "cannot read the raster" in err
    assert "not-the-secret" not in out + err
    assert not list((tmp_path / "a").glob("S2_*"))


def test_s3_bands_without_a_zip_or_keys_say_which_keys_to_set(
    copernicus: FakeStac,
    safes: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    optical = next(item for item in copernicus.items if item["collection"] == "sentinel-2-l2a")
    del optical["assets"]["PRODUCT"]
    code, out, err = run([*cdse_fetch(safes, tmp_path / "a"), "--mission", "S2"], capsys)
    assert (code, out) == (2, "")
    assert "set GEOCOLOR_CDSE_S3_ACCESS_KEY and GEOCOLOR_CDSE_S3_SECRET_KEY" in err
