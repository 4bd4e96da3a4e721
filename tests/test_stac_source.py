"""``--source stac:<preset>``: search and COG-window fetch against a local STAC API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geocolor.cli import main
from tests.stac_env import use_stac_server
from tests.stac_fixtures import (
    AOI,
    DATES,
    ES_S2_ID,
    PC_S1_ID,
    PC_S2_ID,
    backscatter_linear,
    band_dn,
    earth_search,
    planetary_computer,
)
from tests.stac_server import FakeStac, running

pytestmark = pytest.mark.usefixtures("fresh_plugins")


@pytest.fixture
def pc(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeStac]:
    state = FakeStac()
    with running(state):
        planetary_computer(state)
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        yield state


@pytest.fixture
def es(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeStac]:
    state = FakeStac()
    with running(state):
        earth_search(state)
        use_stac_server(monkeypatch, state, tmp_path / "cache")
        yield state


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--quiet", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("pc")
def test_planetary_computer_rtc_search_lists_s1_rtc_and_s2_and_pairs_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        ["search", "--source", "stac:planetary-computer-rtc", "--aoi", AOI, *DATES, "--json"],
        capsys,
    )
    assert code == 0, err
    data = json.loads(out)
    assert [(p["id"], p["mission"]) for p in data["products"]] == [
        (PC_S1_ID, "S1"),
        (PC_S2_ID, "S2"),
    ]
    assert data["products"][1]["cloud_cover"] == 12.5
    assert data["products"][0]["orbit_direction"] == "ascending"
    assert [(p["s1"], p["s2"]) for p in data["pairs"]] == [
        ("S1_20221004T165000", "S2_20221005T100031")
    ]
    assert data["pairs"][0]["coverage"] == 1.0


@pytest.mark.usefixtures("es")
def test_earth_search_table_and_cloud_limit(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--source", "stac:earth-search", "--aoi", AOI, *DATES]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert ES_S2_ID in out
    assert "no suggested pairs" in out
    code, out, _ = run([*args, "--max-cloud", "10"], capsys)
    assert code == 0
    assert ES_S2_ID not in out


def test_a_stac_url_is_searched_with_the_shared_collection_ids(
    es: FakeStac, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--source", f"stac:{es.stac_url}", "--aoi", AOI, *DATES, "--json"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert [p["id"] for p in json.loads(out)["products"]] == [ES_S2_ID]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("stac", "--source stac needs a catalogue: stac:cdse, stac:planetary-computer"),
        (
            "stac:nowhere",
            "stac:nowhere: not a preset (cdse, planetary-computer, earth-search, "
            "planetary-computer-rtc)",
        ),
        ("sentinelhub:cdse", "data source 'sentinelhub' takes no ':cdse'"),
    ],
)
def test_bad_stac_targets_are_usage_errors(
    source: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["search", "--source", source, "--aoi", AOI, *DATES], capsys)
    assert (code, out) == (2, "")
    assert message in err


def _fetch(source: str, output: Path, *extra: str) -> list[str]:
    return [
        "fetch",
        "--source",
        source,
        "--aoi",
        AOI,
        *DATES,
        "-o",
        str(output),
        "--retry-sleep",
        "0.01",
        *extra,
    ]


def _expected_reflectance_dn(band: str, folder: Path, name: str) -> None:
    """The fetched band equals the source DNs less the 1000 offset, sampled on its grid."""
    with rasterio.open(folder / name) as fetched:
        values = fetched.read(1)
        assert fetched.crs.to_epsg() == 32633
        assert fetched.tags()["BOA_ADD_OFFSET"] == "0"
        # pixel centres of the fetched grid in the source patch (same zone, 10 m)
        left, top = fetched.transform.c, fetched.transform.f
    col0 = round((left - 499_000.0) / 10.0)
    row0 = round((4_985_500.0 - top) / 10.0)
    source = band_dn(band)[row0 : row0 + values.shape[0], col0 : col0 + values.shape[1]]
    assert values.shape == (112, 79)
    expected = source if band == "SCL" else source.astype(np.int32) - 1000
    np.testing.assert_array_equal(values, expected)


@pytest.mark.parametrize("preset", ["earth-search", "planetary-computer"])
def test_fetch_reads_only_the_aoi_window_of_s2_cogs(
    preset: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state: FakeStac = request.getfixturevalue("es" if preset == "earth-search" else "pc")
    output = tmp_path / "scenes"
    code, out, err = run(_fetch(f"stac:{preset}", output, "--mission", "S2", "--all"), capsys)
    assert code == 0, err
    folder = output / "S2_20221005T100031"
    assert out.splitlines() == [str(folder)]
    for band in ("B02", "B03", "B04", "B08", "SCL"):
        _expected_reflectance_dn(band, folder, f"S2_20221005T100031_{band}.tif")
    # windows only: every asset read went through ranges, none as a whole file
    reads = [entry for entry in state.log if entry[0] == "GET" and ".tif" in entry[1]]
    assert reads and all(range_header for _, _, range_header in reads)


def test_planetary_computer_urls_are_signed_and_s1_rtc_fetched_as_gamma0_rtc(
    pc: FakeStac, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "scenes"
    code, _, err = run(
        _fetch("stac:planetary-computer-rtc", output, "--mission", "S1", "--all"), capsys
    )
    assert code == 2
    assert "hold gamma0-rtc, not sigma0 (set backscatter: gamma0-rtc)" in err

    args = _fetch("stac:planetary-computer-rtc", output, "--mission", "S1", "--all")
    code, _, err = run([*args, "--backscatter", "gamma0"], capsys)
    assert code == 2
    assert "hold gamma0-rtc, not gamma0 (set backscatter: gamma0-rtc)" in err
    code, out, err = run([*args, "--backscatter", "gamma0-rtc"], capsys)
    assert code == 0, err
    target = output / "S1_20221004T165000.tif"
    assert out.splitlines() == [str(target)]
    with rasterio.open(target) as fetched:
        assert fetched.descriptions == ("VV gamma0-rtc dB", "VH gamma0-rtc dB")
        assert fetched.tags()["input_products"] == PC_S1_ID
        vv = fetched.read(1)
    assert np.isfinite(vv).all()
    low, high = (
        10 * np.log10(backscatter_linear("VV").min()),
        10 * np.log10(backscatter_linear("VV").max()),
    )
    assert low - 0.01 <= vv.min() and vv.max() <= high + 0.01
    assert pc.requests_to("/sas/sentinel1euwest/s1-rtc")
    blob_reads = [path for _, path, _ in pc.log if path.startswith("//sentinel1euwest")]
    assert blob_reads


def test_unsigned_blob_urls_are_refused_by_the_stand_in(pc: FakeStac) -> None:
    import requests

    url = pc.items[0]["assets"]["B02"]["href"]
    assert requests.get(url, timeout=10).status_code == 403
