"""``geocolor prepare``: paired S1/S2 training tiles from full scenes into a Zarr store."""

from __future__ import annotations

import click
import zarr
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.stac_item import open_s2_input
from geocolor.config import load_config
from geocolor.errors import GeocolorError
from geocolor.geo.aoi import load_aoi
from geocolor.io.cluster import dask_client
from geocolor.io.locks import STALE_AFTER, store_lock
from geocolor.io.outputs import check_output
from geocolor.prepare.catalog import write_catalog
from geocolor.prepare.pairing import Pair, expand_inputs, pair_products
from geocolor.prepare.pipeline import (
    PairSummary,
    PrepareConfig,
    check_inputs,
    check_store_settings,
    prepare_pair,
    summarise,
)
from geocolor.prepare.store import complete_pairs, open_store
from geocolor.progress import progress
from geocolor.s1.source import open_s1


@click.command("prepare")
@click.option(
    "--s1",
    "s1_inputs",
    multiple=True,
    required=True,
    help="S1 GRD SAFE/zip, processed dB GeoTIFF or STAC Item, glob or listing (repeatable).",
)
@click.option(
    "--s2",
    "s2_inputs",
    multiple=True,
    required=True,
    help="S2 L2A SAFE/zip/band folder or STAC Item, glob or listing file (repeatable).",
)
@click.option("-o", "--output", required=True, help="Zarr store to create or extend.")
@click.option("--aoi", default=None, help="lon/lat bbox minx,miny,maxx,maxy or a GeoJSON/WKT file.")
@click.option(
    "--config", "config_path", default=None, help="Pipeline YAML (pipelines/prepare.yaml)."
)
@click.option("--max-days", type=float, default=None, help="Largest S1/S2 time difference (10).")
@click.option("--tile-size", type=int, default=None, help="Tile size in pixels (256).")
@click.option("--stride", type=int, default=None, help="Tile stride in pixels (256).")
@click.option(
    "--min-valid", type=float, default=None, help="Least fraction of valid pixels per tile (0.95)."
)
@click.option(
    "--max-cloud",
    type=float,
    default=None,
    help="Largest fraction of masked pixels per tile (0.05).",
)
@click.option("--split-block", type=int, default=None, help="Tiles per side of a split block (8).")
@click.option(
    "--resolution",
    type=int,
    default=None,
    help="Sentinel-2 resolution in metres: 10, 20 or 60 (10).",
)
@click.option("--speckle", default=None, help="Sentinel-1 speckle filter or none (lee).")
@click.option(
    "--correct-shift/--no-correct-shift", default=None, help="Apply the estimated S1 shift (off)."
)
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler.")
@click.option(
    "--wait-lock",
    type=click.FloatRange(min=0),
    default=0.0,
    metavar="SECONDS",
    help="Wait this long for another run writing the store (0: fail at once).",
)
@click.option(
    "--break-lock", is_flag=True, help="Remove the store's lock first: its run is known dead."
)
@click.option(
    "--stale-lock-age",
    type=click.FloatRange(min=0),
    default=STALE_AFTER,
    metavar="SECONDS",
    help="Age after which a lock held from another host is stale (86400).",
)
def prepare_command(
    s1_inputs: tuple[str, ...],
    s2_inputs: tuple[str, ...],
    output: str,
    config_path: str | None,
    scheduler: str | None,
    speckle: str | None,
    wait_lock: float,
    break_lock: bool,
    stale_lock_age: float,
    **options: object,
) -> None:
    """Pair Sentinel-1 and Sentinel-2 scenes and write co-registered training tiles.

    The store's STAC Collection, with an Item per complete pair, is kept beside it in
    OUTPUT.stac/ (collection.json, items/PAIR.json) as pairs complete.

    One run writes a store at a time: it holds OUTPUT.lock (PID, host, start time)
    while it runs. Another run fails at once naming the holder, or waits with
    --wait-lock; a lock left by a dead run is taken over with a warning.

    Exits with code 1 when no tile at all is in the store at the end, saying why.
    """
    config = load_config(PrepareConfig, config_path, {**options, "s1": {"speckle": speckle}})
    aoi = load_aoi(config.aoi) if config.aoi else None
    s1_paths = expand_inputs(s1_inputs, "Sentinel-1")
    s2_paths = expand_inputs(s2_inputs, "Sentinel-2")
    inputs = [*s1_inputs, *s2_inputs, *s1_paths, *s2_paths, config.aoi, config_path]
    check_output(output, inputs, "store")
    s1_products = [open_s1(path) for path in s1_paths]
    s2_products = [open_s2_input(path) for path in s2_paths]
    locations = {
        **{s1.info.product_id: path for s1, path in zip(s1_products, s1_paths, strict=True)},
        **{s2.info.product_id: path for s2, path in zip(s2_products, s2_paths, strict=True)},
    }
    pairs, unpaired = pair_products(s1_products, s2_products, config.max_days)
    check_inputs(pairs, config, aoi)
    with store_lock(output, wait=wait_lock, break_lock=break_lock, stale_after=stale_lock_age):
        root = open_store(output, mode="a")
        finished = set(complete_pairs(root))
        summaries = _prepare_pairs(
            output, root, pairs, finished, (config, aoi), scheduler, locations
        )
    for line in summarise(summaries, unpaired):
        click.echo(line)
    if not complete_pairs(root) or not _tiles_in_store(summaries, finished):
        raise GeocolorError(f"0 tiles, because {_why_nothing(summaries, unpaired)}")
    click.echo(output)


def _prepare_pairs(
    output: str,
    root: zarr.Group,
    pairs: list[Pair],
    finished: set[str],
    settings: tuple[PrepareConfig, BaseGeometry | None],
    scheduler: str | None,
    locations: dict[str, str],
) -> list[PairSummary]:
    """Write the pairs not ``finished`` into the store (under its lock) and its catalogue."""
    config, aoi = settings
    check_store_settings(root, output, config)
    summaries = []
    with dask_client(scheduler) as client:
        for pair in progress(pairs, total=len(pairs), desc="pairs", unit="pair"):
            if pair.pair_id in finished:
                summaries.append(PairSummary(pair.pair_id, skipped="already complete"))
                continue
            summary = prepare_pair(pair, root, config, aoi, client, locations)
            summaries.append(summary)
            if not summary.skipped:
                write_catalog(output, root, [pair.pair_id])
    # the whole catalogue once more: it also lists pairs completed by a killed run
    write_catalog(output, root)
    return summaries


def _tiles_in_store(summaries: list[PairSummary], finished: set[str]) -> bool:
    return bool(finished) or any(summary.kept for summary in summaries)


def _why_nothing(summaries: list[PairSummary], unpaired: list[str]) -> str:
    if not summaries:
        return "no Sentinel-1/Sentinel-2 pair was found: " + "; ".join(unpaired)
    reasons = []
    for summary in summaries:
        if summary.skipped:
            reasons.append(f"{summary.pair_id} was skipped ({summary.skipped})")
        else:
            drops = ", ".join(f"{n} {why}" for why, n in sorted(summary.dropped.items()))
            reasons.append(f"every tile of {summary.pair_id} was dropped ({drops})")
    return "; ".join(reasons)
