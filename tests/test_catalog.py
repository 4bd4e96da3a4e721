from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import (
    Product,
    SearchResult,
    acquisitions_to_fetch,
    group_acquisitions,
    search_scenes,
    suggest_pairs,
)
from geocolor.acquire.sentinelhub_session import ServiceSettings, connect, load_credentials
from geocolor.cli import main
from geocolor.geo.aoi import load_aoi
from tests.sentinelhub_server import (
    AOI,
    CATALOG_SEARCH,
    SERVICE_OPTIONS,
    FakeSentinelHub,
    running,
    scene_features,
    use_server,
)

UNIT = box(0.0, 0.0, 0.01, 0.01)
T0 = datetime(2022, 10, 4, 16, 50, tzinfo=UTC)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSentinelHub]:
    with running(FakeSentinelHub(features=scene_features(), page_size=1)) as state:
        use_server(monkeypatch, state)
        yield state


def product(
    mission: str, minutes: float, footprint: BaseGeometry = UNIT, orbit: str = "ascending"
) -> Product:
    return Product(
        product_id=f"{mission}_{minutes}",
        mission=mission,
        time=T0 + timedelta(minutes=minutes),
        orbit_direction=orbit if mission == "S1" else None,
        cloud_cover=None if mission == "S1" else 5.0,
        footprint=footprint,
        coverage=1.0,
    )


def test_slices_of_one_pass_form_one_acquisition() -> None:
    west, east = box(0.0, 0.0, 0.005, 0.01), box(0.005, 0.0, 0.01, 0.01)
    products = [
        product("S1", 0.4, east),
        product("S1", 0, west),
        product("S1", 0.2, west, orbit="descending"),
        product("S1", 60 * 24, UNIT),
        product("S2", 1),
    ]
    acquisitions = group_acquisitions(products, UNIT)
    names = [(a.mission, len(a.products), a.orbit_direction) for a in acquisitions]
    assert names == [
        ("S1", 2, "ascending"),
        ("S1", 1, "descending"),
        ("S2", 1, None),
        ("S1", 1, "ascending"),
    ]
    # the two halves together cover the whole AOI
    assert acquisitions[0].coverage == pytest.approx(1.0, abs=1e-6)
    assert acquisitions[1].coverage == pytest.approx(0.5, abs=0.01)
    assert acquisitions[0].start < acquisitions[0].end


def test_pairs_trade_coverage_against_days() -> None:
    half = box(0.0, 0.0, 0.005, 0.01)
    products = [
        product("S2", 0),
        product("S1", 60 * 24 * 1, half),  # 1 day, half the AOI
        product("S1", 60 * 24 * 3),  # 3 days, all of it
        product("S1", 60 * 24 * 30),  # too far apart
    ]
    acquisitions = group_acquisitions(products, UNIT)
    (pair,) = suggest_pairs(acquisitions, UNIT, max_days=10)
    assert pair.days_apart == pytest.approx(3)
    assert pair.coverage == pytest.approx(1.0, abs=1e-6)
    assert pair.score == pytest.approx(1.0 - 0.5 * 3 / 10, abs=1e-6)
    assert suggest_pairs(acquisitions, UNIT, max_days=0.5) == ()


def test_fetch_selection_follows_pairs_or_missions() -> None:
    products = [product("S2", 0), product("S2", 60 * 24 * 5), product("S1", 60 * 24)]
    acquisitions = group_acquisitions(products, UNIT)
    result = SearchResult((), acquisitions, suggest_pairs(acquisitions, UNIT, 10))
    best = acquisitions_to_fetch(result, {"S1", "S2"}, 1)
    assert [a.mission for a in best] == ["S2", "S1"]
    everything = acquisitions_to_fetch(result, {"S1", "S2"}, None)
    assert len(everything) == 3
    only_s2 = acquisitions_to_fetch(result, {"S2"}, 1)
    assert [a.mission for a in only_s2] == ["S2", "S2"]


def test_search_pages_through_the_catalog(server: FakeSentinelHub) -> None:
    connection = connect(load_credentials(), ServiceSettings(retry_sleep=0.01))
    result = search_scenes(
        connection, load_aoi(AOI), date(2022, 10, 1), date(2022, 10, 10), max_cloud=50
    )
    ids = sorted(p.product_id for p in result.products)
    # the cloudy scene is filtered by the service, the far one does not intersect
    assert ids == ["S1A_ASC_NORTH", "S1A_ASC_SOUTH", "S1A_DESC", "S2A_CLEAR"]
    # one page per product with page size 1, one more request per collection's end
    assert len(server.requests_to(CATALOG_SEARCH)) >= len(ids)
    assert [a.name for a in result.acquisitions] == [
        "S1_20221004T165000",
        "S2_20221005T100031",
        "S1_20221009T051000",
    ]
    best = result.pairs[0]
    assert (best.s1.name, best.s2.name) == ("S1_20221004T165000", "S2_20221005T100031")
    assert best.coverage == pytest.approx(1.0, abs=1e-6)


def test_search_command_json_and_table(
    server: FakeSentinelHub, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--aoi", AOI, "--start", "2022-10-01", "--end", "2022-10-10"]
    assert main([*args, *SERVICE_OPTIONS, "--max-cloud", "90", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {p["id"] for p in data["products"]} >= {"S2B_CLOUDY", "S2A_CLEAR"}
    south = next(p for p in data["products"] if p["id"] == "S1A_ASC_SOUTH")
    assert south["orbit_direction"] == "ascending" and 0.4 < south["coverage"] < 0.6
    days = (17 * 3600 + 10 * 60 + 31) / 86400  # 2022-10-04T16:50:00 to 10-05T10:00:31
    assert data["pairs"][0] == {
        "s1": "S1_20221004T165000",
        "s2": "S2_20221005T100031",
        "days_apart": pytest.approx(days, abs=0.001),
        "coverage": 1.0,
        "score": pytest.approx(1 - 0.5 * days / 10, abs=0.001),
    }
    assert main([*args, *SERVICE_OPTIONS]) == 0
    out = capsys.readouterr().out
    assert "S1A_DESC" in out and "descending" in out and "12.5%" in out
    assert "suggested pairs" in out


def test_search_rejects_reversed_dates(
    server: FakeSentinelHub, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["search", "--aoi", AOI, "--start", "2022-10-10", "--end", "2022-10-01"]
    assert main(args) == 2
    assert "is before --start" in capsys.readouterr().err
    assert server.log == []
