"""``geocolor search`` and ``geocolor fetch``: scenes from a data source for an AOI and dates.

The source is a plugin chosen by ``--source`` (Sentinel Hub by default); see
:mod:`geocolor.acquire.source`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import click
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import (
    SearchResult,
    acquisitions_to_fetch,
    result_to_json,
)
from geocolor.acquire.fetch import BACKSCATTER_MEASURES, FetchConfig
from geocolor.acquire.sentinelhub_session import ServiceSettings
from geocolor.acquire.source import DEFAULT_SOURCE, SourceConnection, data_source
from geocolor.config import load_config
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.aoi import load_aoi
from geocolor.io.outputs import check_output

F = TypeVar("F", bound=Callable[..., Any])
_DATE = click.DateTime(formats=["%Y-%m-%d"])
_SERVICE_OPTIONS = ("max_attempts", "retry_sleep", "requests_per_second")


def _search_options(command: F) -> F:
    """Options shared by both commands: which source, where, when, which scenes, which account."""
    options = [
        click.option(
            "--source",
            default=None,
            help=f"Data source plugin ({DEFAULT_SOURCE}; 'geocolor plugins' lists them).",
        ),
        click.option(
            "--aoi", required=True, help="lon/lat bbox minx,miny,maxx,maxy or a GeoJSON/WKT file."
        ),
        click.option("--start", required=True, type=_DATE, help="First day, YYYY-MM-DD (UTC)."),
        click.option("--end", required=True, type=_DATE, help="Last day, YYYY-MM-DD (inclusive)."),
        click.option(
            "--max-cloud", type=float, default=100.0, help="Largest S2 cloud cover in % (100)."
        ),
        click.option(
            "--max-days", type=float, default=10.0, help="Largest S1/S2 gap in days (10)."
        ),
        click.option(
            "--credentials",
            default=None,
            help="YAML/JSON file with client_id, client_secret, base_url, token_url.",
        ),
        click.option("--max-attempts", type=int, default=None, help="Tries per request (4)."),
        click.option(
            "--retry-sleep", type=float, default=None, help="First wait before a retry, s (5)."
        ),
        click.option(
            "--requests-per-second", type=float, default=None, help="Request rate cap (5)."
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("search")
@_search_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def search_command(
    source: str | None,
    aoi: str,
    start: datetime,
    end: datetime,
    max_cloud: float,
    max_days: float,
    credentials: str | None,
    as_json: bool,
    **service: Any,
) -> None:
    """Find Sentinel-1 GRD (IW, VV+VH) and Sentinel-2 L2A scenes and suggest pairs.

    Lists each product with its date, orbit direction, cloud cover and the fraction of
    the AOI it covers, then suggested S1/S2 pairs, best first.
    """
    settings = load_config(ServiceSettings, None, service)
    _, _, result = _search(
        source or DEFAULT_SOURCE, aoi, start, end, max_cloud, max_days, credentials, settings
    )
    if as_json:
        click.echo(json.dumps(result_to_json(result), indent=2))
        return
    for line in _report(result):
        click.echo(line)


@click.command("fetch")
@_search_options
@click.option("-o", "--output", required=True, help="Output folder.")
@click.option("--config", "config_path", default=None, help="YAML with fetch keys.")
@click.option(
    "--mission",
    "missions",
    multiple=True,
    type=click.Choice(["S1", "S2"], case_sensitive=False),
    help="Only this mission (repeatable; both by default).",
)
@click.option("--pairs", type=click.IntRange(min=1), default=1, help="Best pairs to fetch (1).")
@click.option("--all", "every", is_flag=True, help="Every acquisition found, not just pairs.")
@click.option("--resolution", type=float, default=None, help="Metres per pixel (10).")
@click.option("--crs", default=None, help="Output CRS instead of the AOI's UTM zone.")
@click.option(
    "--backscatter",
    type=click.Choice(BACKSCATTER_MEASURES),
    default=None,
    help="sigma0 (default), gamma0 (ellipsoid) or gamma0-rtc (terrain-flattened).",
)
@click.option("--db/--linear", default=None, help="Sentinel-1 in dB (default) or linear.")
@click.option(
    "--speckle",
    type=click.Choice(["none", "lee"]),
    default=None,
    help="Service speckle filter (none).",
)
@click.option("--speckle-window", type=int, default=None, help="Lee window, odd (5).")
@click.option("--s2-bands", default=None, help="Sentinel-2 bands (B02,B03,B04,B08); SCL too.")
@click.option(
    "--max-request-pixels", type=int, default=None, help="Request size limit per side (2500)."
)
@click.option("--threads", type=int, default=None, help="Parallel requests (4).")
@click.option("--cache", default=None, help="Download cache (~/.cache/geocolor/sentinelhub).")
def fetch_command(
    aoi: str,
    start: datetime,
    end: datetime,
    max_cloud: float,
    max_days: float,
    credentials: str | None,
    output: str,
    config_path: str | None,
    missions: Sequence[str],
    pairs: int,
    every: bool,
    s2_bands: str | None,
    **options: Any,
) -> None:
    """Download scenes as GeoTIFFs on one grid, ready for ``prepare`` and ``colorize``.

    Fetches the acquisitions of the best ``--pairs`` suggested pairs (``--all``: every
    acquisition found). Writes S1_<time>.tif (backscatter, one band per polarisation)
    and S2_<time>/ band folders, then prints their paths. A rerun skips finished
    outputs and cached requests.
    """
    service = {key: options.pop(key) for key in _SERVICE_OPTIONS}
    bands = None if s2_bands is None else [band.strip() for band in s2_bands.split(",")]
    config = load_config(
        FetchConfig, config_path, {**options, "s2_bands": bands, "service": service}
    )
    check_output(output, [aoi, credentials, config_path], "folder")
    connection, area, result = _search(
        config.source, aoi, start, end, max_cloud, max_days, credentials, config.service
    )
    wanted = {mission.upper() for mission in missions} or {"S1", "S2"}
    chosen = acquisitions_to_fetch(result, wanted, None if every else pairs)
    if not chosen:
        what = "S1/S2 pair" if wanted == {"S1", "S2"} and not every else "scene"
        raise GeocolorError(
            f"no {what} found over {aoi} from {start:%Y-%m-%d} to {end:%Y-%m-%d} "
            f"(max cloud {max_cloud:g}%, max {max_days:g} days apart)"
        )
    for path in connection.fetch(chosen, area, config, output):
        click.echo(str(path))


def _search(
    source: str,
    aoi: str,
    start: datetime,
    end: datetime,
    max_cloud: float,
    max_days: float,
    credentials: str | None,
    settings: ServiceSettings,
) -> tuple[SourceConnection, BaseGeometry, SearchResult]:
    """Check the arguments, connect and search: the connection serves the fetch too."""
    if end < start:
        raise UsageError(f"--end {end:%Y-%m-%d} is before --start {start:%Y-%m-%d}")
    chosen_source = data_source(source)
    area = load_aoi(aoi)
    connection = chosen_source.connect(credentials, settings)
    result = connection.search(
        area, start.date(), end.date(), max_cloud=max_cloud, max_days=max_days
    )
    return connection, area, result


def _report(result: SearchResult) -> list[str]:
    products = [
        (
            product.product_id,
            product.time.strftime("%Y-%m-%d %H:%M:%S"),
            product.orbit_direction or "-",
            "-" if product.cloud_cover is None else f"{product.cloud_cover:.1f}%",
            f"{product.coverage:.0%}",
        )
        for product in result.products
    ]
    lines = _table(("product", "date (UTC)", "orbit", "cloud", "AOI covered"), products)
    lines.append("")
    if not result.pairs:
        lines.append("no suggested pairs")
        return lines
    pairs = [
        (pair.s1.name, pair.s2.name, f"{pair.days_apart:.1f}", f"{pair.coverage:.0%}")
        for pair in result.pairs
    ]
    lines.append("suggested pairs, best first:")
    return lines + _table(("S1", "S2", "days apart", "AOI covered by both"), pairs)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
