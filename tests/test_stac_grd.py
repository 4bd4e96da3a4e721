"""Sentinel-1 GRD published file by file (Planetary Computer, Earth Search): rebuilt SAFEs.

Each catalogue's ``sentinel-1-grd`` item (manifest, annotation, calibration and noise
XML, measurement COGs) is searched, fetched into a SAFE folder the SAFE reader opens
as it opens ESA's (resuming an interrupted measurement), then prepared with a
Sentinel-2 product, and colorized straight from the Item, whose output Item validates.
Earth Search's files lie in a requester-pays S3 bucket, read with signed requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pystac
import pytest
import rasterio

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.s1.source import open_s1
from tests.model_factory import log_tiny_model
from tests.stac_env import use_stac_server
from tests.stac_fixtures import PC_S2_ID, grd_item, planetary_computer
from tests.stac_server import FakeStac, running
from tests.stac_validation import validate

pytestmark = pytest.mark.usefixtures("fresh_plugins")

LAYOUT = SceneLayout(lines=600, samples=800)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]
DATES = ["--start", "2021-06-13", "--end", "2021-06-16"]
CATALOGUES = ["planetary-computer", "earth-search"]


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Sentinel-1 SAFE folder and the Sentinel-2 zip of the same place."""
    folder = tmp_path_factory.mktemp("grd")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=1)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1, zip=True)
    return s1, s2


@pytest.fixture(params=CATALOGUES)
def catalogue(
    request: pytest.FixtureRequest,
    products: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[tuple[str, FakeStac]]:
    """A catalogue serving the GRD item and a Sentinel-2 item over it a day later."""
    state = FakeStac()
    with running(state):
        planetary_computer(state)
        grd = grd_item(state, products[0], request.param)
        optical = next(item for item in state.items if item["id"] == PC_S2_ID)
        scene = open_s1(str(products[0]))
        optical = json.loads(json.dumps(optical)) | {
            "geometry": grd["geometry"],
            "bbox": grd["bbox"],
        }
        later = scene.info.start_time + timedelta(days=1)
        optical["properties"]["datetime"] = later.strftime("%Y-%m-%dT%H:%M:%SZ")
        state.items = [grd, optical]
        state.collections = ["sentinel-1-grd", "sentinel-2-l2a"]
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        yield request.param, state


def centre_aoi(safe: Path) -> str:
    centre = open_s1(str(safe)).footprint().centroid
    return f"{centre.x - 0.01},{centre.y - 0.01},{centre.x + 0.01},{centre.y + 0.01}"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_search_lists_the_grd_item_and_pairs_it(
    catalogue: tuple[str, FakeStac],
    products: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, state = catalogue
    aoi = ["--aoi", centre_aoi(products[0])]
    code, out, err = run(["search", "--source", f"stac:{name}", *aoi, *DATES, "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert [(p["id"], p["mission"]) for p in data["products"]] == [
        (state.items[0]["id"], "S1"),
        (PC_S2_ID, "S2"),
    ]
    assert len(data["pairs"]) == 1 and data["pairs"][0]["coverage"] == 1.0
    collections = [json.loads(body)["collections"] for body in state.search_bodies]
    assert collections == [["sentinel-1-grd"], ["sentinel-2-l2a"]]


def test_fetch_rebuilds_the_safe_resuming_then_prepare_reads_it(
    catalogue: tuple[str, FakeStac],
    products: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, state = catalogue
    s1, s2 = products
    measurement = next(key for key in state.assets if key.endswith("measurement/iw-vv.tiff"))
    state.interrupt.add(measurement)
    output = tmp_path / "scenes"
    args = ["fetch", "--source", f"stac:{name}", "--aoi", centre_aoi(s1), *DATES]
    code, out, err = run(
        [*args, "-o", str(output), "--mission", "S1", "--all", "--retry-sleep", "0.01"], capsys
    )
    assert code == 0, err
    (fetched,) = (Path(line) for line in out.splitlines())
    assert fetched == output / s1.name  # the product's name, not Earth Search's shorter id
    original = sorted(path.relative_to(s1) for path in s1.rglob("*") if path.is_file())
    rebuilt = sorted(path.relative_to(fetched) for path in fetched.rglob("*") if path.is_file())
    assert rebuilt == original
    for relative in original:
        assert (fetched / relative).read_bytes() == (s1 / relative).read_bytes()
    served_as = measurement.split("/", 1)[1]
    resumed = [rng for _, path, rng in state.log if path.endswith(served_as) and rng]
    assert len(resumed) == 1 and resumed[0].startswith("bytes=") and resumed[0] != "bytes=0-"
    assert not list(output.glob("*.partial"))
    assert state.s3_secret_key not in out + err

    store = tmp_path / "pairs.zarr"
    prepare = ["prepare", "--s1", str(fetched), "--s2", str(s2), "-o", str(store), *TILE]
    code, out, err = run(prepare, capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == str(store)


def test_colorize_from_the_grd_item_and_its_cog_item_validates(
    catalogue: tuple[str, FakeStac],
    products: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, state = catalogue
    monkeypatch.chdir(tmp_path)
    item = tmp_path / "grd.json"
    item.write_text(json.dumps(state.items[0]))
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    out = tmp_path / "colour.tif"
    args = ["colorize", str(item), "--model", uri, "--aoi", centre_aoi(products[0])]
    code, printed, err = run([*args, "-o", str(out)], capsys)
    assert code == 0, err
    assert printed.strip() == str(out)
    product_id = products[0].name.removesuffix(".SAFE")
    with rasterio.open(out) as colour:
        assert colour.tags()["input_product"] == product_id
    cached = tmp_path / "cache" / "geocolor" / "stac" / state.items[0]["id"]
    assert [path.name for path in cached.iterdir()] == [products[0].name]
    described = pystac.Item.from_file(str(tmp_path / "colour.json"))
    validate(described)
    (source,) = described.get_links(pystac.RelType.DERIVED_FROM)
    assert source.title == product_id


def test_earth_search_files_need_aws_keys_and_a_signature_that_matches(
    products: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = FakeStac()
    with running(state):
        state.items = [grd_item(state, products[0], "earth-search")]
        state.collections = ["sentinel-1-grd"]
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        args = ["fetch", "--source", "stac:earth-search", "--aoi", centre_aoi(products[0])]
        args += [*DATES, "--mission", "S1", "--all", "--retry-sleep", "0.01"]
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        code, _, err = run([*args, "-o", str(tmp_path / "a")], capsys)
        assert code == 2
        assert "sentinel-s1-l1c is a requester-pays AWS bucket: set AWS_ACCESS_KEY_ID" in err
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        code, out, err = run([*args, "-o", str(tmp_path / "b")], capsys)
        assert code == 1
        assert "HTTP 403, the credentials were refused" in err
        assert "not-the-secret" not in out + err
        assert not list((tmp_path / "b").glob("*.SAFE"))


def test_prepare_takes_the_grd_item_itself(
    products: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    state = FakeStac()
    with running(state):
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        item = tmp_path / "grd.json"
        item.write_text(json.dumps(grd_item(state, products[0], "planetary-computer")))
        store = tmp_path / "pairs.zarr"
        args = ["prepare", "--s1", str(item), "--s2", str(products[1]), "-o", str(store)]
        code, out, err = run([*args, *TILE], capsys)
    assert code == 0, err
    assert out.splitlines()[-1] == str(store)
    cached = tmp_path / "cache" / "geocolor" / "stac" / products[0].name.removesuffix(".SAFE")
    assert [path.name for path in cached.iterdir()] == [products[0].name]


def test_a_manifest_pointing_outside_the_product_is_refused(
    products: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from geocolor.acquire.stac_item import resolve_s1_item
    from geocolor.errors import GeocolorError

    state = FakeStac()
    with running(state):
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        grd = grd_item(state, products[0], "planetary-computer")
        name = next(key for key in state.assets if key.endswith("manifest.safe"))
        manifest = state.assets[name].decode()
        inner = next(
            href
            for href in manifest.split('href="')[1:]
            if href.startswith("./measurement/") and "-vv-" in href
        ).split('"')[0]
        escape = f"/{tmp_path.name}-escaped/s1a-iw-grd-vv-x.tiff"
        state.assets[name] = manifest.replace(inner, escape).encode()
        item = tmp_path / "grd.json"
        item.write_text(json.dumps(grd))
        with pytest.raises(GeocolorError, match="is outside the product"):
            resolve_s1_item(str(item), tmp_path / "cache")
    assert not Path(f"/{tmp_path.name}-escaped").exists()
    assert not list((tmp_path / "cache").rglob("*.SAFE"))


def test_a_rerun_resumes_the_safe_an_earlier_run_left_half_done(
    catalogue: tuple[str, FakeStac],
    products: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    name, state = catalogue
    measurement = next(key for key in state.assets if key.endswith("measurement/iw-vh.tiff"))
    state.interrupt.add(measurement)
    output = tmp_path / "scenes"
    args = ["fetch", "--source", f"stac:{name}", "--aoi", centre_aoi(products[0]), *DATES]
    args += ["-o", str(output), "--mission", "S1", "--all", "--max-attempts", "1"]
    code, _, err = run(args, capsys)
    assert code == 1
    assert "bytes kept, rerun to resume" in err
    assert not list(output.glob("*.SAFE"))
    staged = output / f"{products[0].name}.partial"
    assert (staged / "manifest.safe").is_file()

    before = len(state.log)
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert out.splitlines() == [str(output / products[0].name)]
    again = [(path, rng) for _, path, rng in state.log[before:]]
    served_as = measurement.split("/", 1)[1]
    # the rerun asks only for the rest of the cut-off file and what was never started
    resumed = [rng for path, rng in again if path.endswith(served_as)]
    assert resumed and resumed[0].startswith("bytes=") and resumed[0] != "bytes=0-"
    assert not any(path.endswith("manifest.safe") for path, _ in again)
    assert not staged.exists()
