"""Data sources are plugins: ``search`` and ``fetch`` go through the one ``--source`` names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from geocolor.cli import main
from tests.plugin_dist import install_plugin

pytestmark = pytest.mark.usefixtures("fresh_plugins")

AOI = "10.0,45.0,10.1,45.1"
DATES = ["--start", "2022-10-01", "--end", "2022-10-03"]

# One S1 and one S2 product over the whole AOI at 10:00 on the first day; the ids carry
# the --credentials value and the S2 cloud cover the --max-cloud value, so the test can
# see both reached the source.
FAKE_SOURCE = """
    from datetime import UTC, datetime, time
    from pathlib import Path

    from geocolor.acquire.catalog import Product, SearchResult, group_acquisitions, suggest_pairs
    from geocolor.plugins.hookspecs import hookimpl

    class FakeConnection:
        def __init__(self, credentials):
            self.credentials = credentials

        def search(self, aoi, start, end, *, max_cloud, max_days):
            when = datetime.combine(start, time(10), UTC)
            products = tuple(
                Product(
                    f"FAKE_{mission}_{self.credentials}", mission, when, None,
                    max_cloud if mission == "S2" else None, aoi, 1.0,
                )
                for mission in ("S1", "S2")
            )
            acquisitions = group_acquisitions(products, aoi)
            return SearchResult(products, acquisitions, suggest_pairs(acquisitions, aoi, max_days))

        def fetch(self, acquisitions, aoi, config, output_dir):
            paths = []
            for acquisition in acquisitions:
                path = Path(output_dir) / f"{acquisition.name}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(f"{config.resolution:g} m")
                paths.append(path)
            return paths

    class FakeSource:
        name = "fake"

        def connect(self, credentials, service):
            return FakeConnection(credentials)

    @hookimpl
    def geocolor_register_sources(registry):
        registry.register("fake", FakeSource())
"""


@pytest.fixture
def fake_source(plugin_site: Path) -> None:
    install_plugin(plugin_site, "geocolor-fake-source", "geocolor_fake_source", FAKE_SOURCE)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_sentinel_hub_and_stac_are_the_built_in_sources(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["plugins"], capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines()]
    assert ["data", "source", "sentinelhub", "built-in"] in rows
    assert ["data", "source", "stac", "built-in"] in rows


@pytest.mark.usefixtures("fake_source")
def test_search_prints_what_the_chosen_source_found(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["search", "--source", "fake", "--aoi", AOI, *DATES, "--max-cloud", "30"]
    code, out, err = run_cli([*args, "--credentials", "account.yaml", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert [(p["id"], p["cloud_cover"]) for p in data["products"]] == [
        ("FAKE_S1_account.yaml", None),
        ("FAKE_S2_account.yaml", 30.0),
    ]
    assert [a["name"] for a in data["acquisitions"]] == ["S1_20221001T100000", "S2_20221001T100000"]
    assert [(p["s1"], p["s2"], p["days_apart"]) for p in data["pairs"]] == [
        ("S1_20221001T100000", "S2_20221001T100000", 0.0)
    ]


@pytest.mark.usefixtures("fake_source")
def test_fetch_takes_its_source_from_the_yaml_and_the_command_line_wins(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fetch.yaml"
    config.write_text("source: fake\nresolution: 20\n")
    output = tmp_path / "scenes"
    args = ["fetch", "--config", str(config), "--aoi", AOI, *DATES, "-o", str(output)]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    fetched = [output / "S1_20221001T100000.txt", output / "S2_20221001T100000.txt"]
    assert out.splitlines() == [str(path) for path in fetched]
    assert [path.read_text() for path in fetched] == ["20 m", "20 m"]

    code, out, err = run_cli([*args, "--source", "nowhere"], capsys)
    assert (code, out) == (2, "")
    assert "unknown data source 'nowhere'" in err


@pytest.mark.usefixtures("fake_source")
def test_unknown_source_is_a_usage_error_listing_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run_cli(["search", "--source", "nowhere", "--aoi", AOI, *DATES], capsys)
    assert (code, out) == (2, "")
    assert err.strip() == (
        "geocolor: error: unknown data source 'nowhere' (known: fake, sentinelhub, stac)"
    )


def test_registering_the_built_in_source_imports_no_client_library() -> None:
    # every command loads every plugin, so the plugin must defer the sentinelhub client
    check = (
        "import sys\n"
        "from geocolor.plugins.registry import Registry\n"
        "from geocolor_sentinelhub.plugin import geocolor_register_sources\n"
        "registry = Registry('data source')\n"
        "geocolor_register_sources(registry)\n"
        "assert registry.names() == ['sentinelhub']\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sentinelhub'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"


def test_registering_the_stac_plugin_imports_no_client_library() -> None:
    check = (
        "import sys\n"
        "from geocolor.plugins.registry import Registry\n"
        "from geocolor_stac.plugin import geocolor_register_readers, geocolor_register_sources\n"
        "sources, readers = Registry('data source'), Registry('reader')\n"
        "geocolor_register_sources(sources)\n"
        "geocolor_register_readers(readers)\n"
        "assert sources.names() == ['stac'] and readers.names() == ['stac-item']\n"
        "heavy = ('pystac', 'pystac_client', 'planetary_computer', 'rasterio')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"
