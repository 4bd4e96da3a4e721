"""``geocolor import``: a public dataset into the training store, in parallel on Dask.

The reader lists the dataset's candidate pairs (names and paths only) as a stream; they
are packed into groups (:mod:`.groups`) as they come, and each group not already
complete in the store is read and written by one Dask task. At most two tasks per
worker thread are in flight, so memory is bounded by the cluster's threads, not the
dataset's size, and a progress bar counts patches. A rerun after a kill skips the complete groups.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from distributed import Client, as_completed

from geocolor.datasets.groups import GroupPlan, GroupResult, plan_groups, write_group
from geocolor.datasets.patches import DatasetReader
from geocolor.datasets.splits import SplitRule
from geocolor.errors import UsageError
from geocolor.prepare.store import complete_pairs, open_store
from geocolor.progress import progress_bar

log = logging.getLogger("geocolor.datasets.importer")

IN_FLIGHT_PER_THREAD = 2


@dataclass
class ImportSummary:
    """What an import did, for the final report."""

    groups: int = 0
    already_complete: int = 0
    kept: int = 0
    unsplit: int = 0
    nodata: int = 0
    excluded: int = 0
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report: skipped pairs (one line each, at most 20), then the totals."""
        shown = self.skipped[:20]
        more = len(self.skipped) - len(shown)
        lines = shown + ([f"... and {more} more skipped"] if more > 0 else [])
        lines.append(
            f"{self.kept} patches imported into {self.groups} groups "
            f"({self.already_complete} already complete), {len(self.skipped)} skipped, "
            f"{self.nodata} mostly nodata, {self.unsplit} outside the split lists, "
            f"{self.excluded} on the exclude lists"
        )
        return lines


def store_settings(
    root_attrs: dict[str, object], reader: DatasetReader, path: str
) -> dict[str, Any]:
    """The root attributes a store of ``reader``'s patches holds; refuse a different store."""
    settings: dict[str, Any] = {
        "tile_size": reader.patch_size,
        "resolution": reader.parameters.get("resolution"),
        "s2_bands": list(reader.s2_bands),
        "s1_polarisations": list(reader.s1_bands),
        "dataset": reader.name,
    }
    for key, value in settings.items():
        held = root_attrs.get(key)
        if held is not None and held != value:
            raise UsageError(f"{path}: the store holds {key} {held}, not {value}; use a new store")
    return settings


def import_dataset(
    reader: DatasetReader,
    root_folder: str,
    store: str,
    client: Client,
    *,
    rule: SplitRule,
    limit: int | None = None,
    pack: int = 64,
    min_valid: float = 0.95,
) -> ImportSummary:
    """Import the first ``limit`` (all by default) pairs of the dataset at ``root_folder``."""
    if pack < 1:
        raise UsageError("--pack must be at least 1")
    # the listing streams: only the groups in flight are held, never the whole dataset
    listing = itertools.islice(reader.candidates(root_folder), limit)
    first = next(listing, None)
    if first is None:
        raise UsageError(f"{root_folder}: no {reader.name} patch found")
    root = open_store(store, "a")
    root.attrs.update(store_settings(dict(root.attrs), reader, store))
    if "pairs" not in root:
        root.create_group("pairs")
    finished = set(complete_pairs(root))
    summary = ImportSummary()
    threads = sum(client.nthreads().values()) or 1
    # the reader and rule travel once per worker
    shared = [*client.scatter([reader, rule], broadcast=True), min_valid]
    with progress_bar(limit, desc="patches", unit="patch") as bar:

        def unfinished(plans: Iterable[GroupPlan]) -> Iterator[GroupPlan]:
            for plan in plans:
                summary.groups += 1
                if plan.group_id in finished:
                    summary.already_complete += 1
                    bar.update(len(plan.candidates))
                else:
                    yield plan

        plans = unfinished(plan_groups(itertools.chain([first], listing), pack, reader.name))
        for plan, result in _run(client, store, plans, shared, threads * IN_FLIGHT_PER_THREAD):
            summary.kept += result.kept
            summary.unsplit += result.unsplit
            summary.nodata += result.nodata
            summary.excluded += result.excluded
            summary.skipped.extend(result.skipped)
            bar.update(len(plan.candidates))
    return summary


def _run(
    client: Client, store: str, plans: Iterator[GroupPlan], shared: list[Any], window: int
) -> Iterator[tuple[GroupPlan, GroupResult]]:
    """Results of ``write_group`` over ``plans``, at most ``window`` tasks in flight."""
    pending = plans
    by_key = {}

    def submit(plan: GroupPlan) -> object:
        future = client.submit(write_group, store, plan, *shared, key=f"import-{plan.group_id}")
        by_key[future.key] = plan
        return future

    running = as_completed([submit(plan) for plan in itertools.islice(pending, window)])
    for future in running:
        result = future.result()
        yield by_key.pop(future.key), result
        following = next(pending, None)
        if following is not None:
            running.add(submit(following))
