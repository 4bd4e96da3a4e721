"""``geocolor import``: a public paired dataset (BigEarthNet, SEN12MS...) into a training store."""

from __future__ import annotations

import logging

import click

from geocolor.datasets.importer import import_dataset
from geocolor.datasets.official import dataset_splits
from geocolor.datasets.splits import SplitRule, read_split_lists
from geocolor.errors import GeocolorError, UsageError
from geocolor.io.cluster import dask_client
from geocolor.io.locks import store_lock
from geocolor.io.outputs import check_output
from geocolor.plugins.manager import get_plugins

log = logging.getLogger("geocolor.datasets")


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        train, val, test = (float(part) for part in text.split(","))
    except ValueError:
        raise UsageError(f"--split {text!r}: give three fractions, like 0.8,0.1,0.1") from None
    return train, val, test


@click.command("import")
@click.argument("dataset")
@click.argument("root")
@click.option("-o", "--output", required=True, help="Zarr store to create or extend.")
@click.option(
    "--split",
    "split",
    default="0.8,0.1,0.1",
    show_default=True,
    help="Train,val,test fractions when the dataset has no official split.",
)
@click.option(
    "--split-lists",
    default=None,
    help="Folder of official train.csv, val.csv and test.csv patch lists (BigEarthNet); "
    "Sen1Floods11's own split CSVs are read without it.",
)
@click.option(
    "--split-block",
    type=float,
    default=9600.0,
    show_default=True,
    help="Side in metres of the ground blocks split as a whole.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split draws.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Import the first N pairs.")
@click.option(
    "--pack",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Patches per group of the store (one file per modality and group).",
)
@click.option(
    "--min-valid",
    type=click.FloatRange(0, 1),
    default=0.95,
    show_default=True,
    help="Least fraction of valid (not nodata) pixels per patch.",
)
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler.")
def import_command(
    dataset: str,
    root: str,
    output: str,
    split: str,
    split_lists: str | None,
    split_block: float,
    seed: int,
    limit: int | None,
    pack: int,
    min_valid: float,
    scheduler: str | None,
) -> None:
    """Import DATASET (bigearthnet, sen12ms, sen1-2, sen1floods11, a plugin's) into a store.

    ROOT is the folder holding the dataset as extracted (local or gs://). The store has
    the schema ``prepare`` writes, so ``train``, ``evaluate`` and ``colorize`` use it
    unchanged; patches are packed many to a group. A rerun after an interruption skips
    the complete groups. Pairs whose partner is missing are skipped and counted.
    """
    reader = get_plugins().dataset_readers.get(dataset)
    check_output(output, [root, split_lists], "store")
    official = read_split_lists(split_lists) if split_lists else dataset_splits(reader, root)
    rule = SplitRule(official, _fractions(split), split_block, seed)
    with store_lock(output), dask_client(scheduler) as client:
        summary = import_dataset(
            reader, root, output, client, rule=rule, limit=limit, pack=pack, min_valid=min_valid
        )
    *skipped, total = summary.lines()
    for line in skipped:
        log.warning("%s", line)
    click.echo(total)
    if summary.kept == 0 and summary.already_complete == 0:
        raise GeocolorError(f"{root}: no {dataset} pair could be imported")
    click.echo(output)
