"""``geocolor store check``: complete pairs whose data contradict their index."""

from __future__ import annotations

import posixpath

import click
import fsspec

from geocolor.errors import GeocolorError
from geocolor.io.locks import store_lock
from geocolor.prepare.catalog import COLLECTION, ITEMS, catalog_folder, write_catalog
from geocolor.prepare.store import complete_pairs, open_store, store_tile_size
from geocolor.prepare.store_check import check_complete_pairs, unmark


@click.group("store")
def store_group() -> None:
    """Inspect and repair a prepared training store."""


@store_group.command("check")
@click.argument("store")
@click.option(
    "--repair",
    is_flag=True,
    help="Unmark the failing pairs (the next prepare redoes them) and rewrite the catalogue.",
)
@click.option(
    "--quick", is_flag=True, help="Structure and index only, and one tile's pixels per pair."
)
def check_command(store: str, repair: bool, quick: bool) -> None:
    """Check every complete pair of STORE: arrays, tile index and chunks agree.

    Prints one line per problem, naming the pair, the array and the chunk or tile.
    Exits with code 1 while problems remain (after --repair, none do: the failing
    pairs are no longer marked complete).
    """
    root = open_store(store, mode="r")
    tile_size = store_tile_size(root)
    pairs = complete_pairs(root)
    problems = check_complete_pairs(root, tile_size, quick=quick)
    for problem in problems:
        click.echo(problem.line())
    failing = {problem.pair for problem in problems}
    click.echo(f"{len(pairs) - len(failing)} of {len(pairs)} complete pairs are sound")
    if not failing:
        return
    if not repair:
        raise GeocolorError(
            f"{store}: {len(failing)} complete pairs do not hold what their index says; "
            "`geocolor store check --repair` unmarks them for prepare to redo"
        )
    with store_lock(store):
        root = open_store(store, mode="r+")
        unmark(root, failing)
        _drop_from_catalog(store, failing, whole=write_catalog(store, root) is None)
    click.echo(f"unmarked {', '.join(sorted(failing))}: run prepare again to redo them")


def _drop_from_catalog(store: str, pair_ids: set[str], whole: bool) -> None:
    """Remove the STAC Items of pairs no longer complete, and the Collection if ``whole``.

    The Collection was rewritten to list the complete pairs left; with none left it is
    not written, and the old one, listing the unmarked pairs, goes.
    """
    fs, folder = fsspec.core.url_to_fs(catalog_folder(store))
    stale = [posixpath.join(folder, ITEMS, f"{pair_id}.json") for pair_id in pair_ids]
    if whole:
        stale.append(posixpath.join(folder, COLLECTION))
    for path in stale:
        if fs.exists(path):
            fs.rm_file(path)
