"""The data-source contract behind ``geocolor search`` and ``geocolor fetch``.

A data source is a remote catalogue that finds Sentinel-1 and Sentinel-2 scenes over an
AOI and downloads them onto one grid. Sources are plugins: each registers itself
through ``geocolor_register_sources`` under the name ``--source`` selects, and Sentinel
Hub is the built-in one (``plugins/geocolor_sentinelhub``). A source first connects
(credentials, retry and rate settings) and the connection then serves both the search
and the fetch, as one Sentinel Hub token does today.

This module imports nothing heavy, so the CLI and plugins can name the contract
without loading any client library.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from geocolor.errors import UsageError
from geocolor.plugins.manager import get_plugins

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from geocolor.acquire.catalog import Acquisition, SearchResult
    from geocolor.acquire.fetch import FetchConfig
    from geocolor.acquire.sentinelhub_session import ServiceSettings

DEFAULT_SOURCE = "sentinelhub"


class SourceConnection(Protocol):
    """A connected source: searches a catalogue and downloads what a search found."""

    def search(
        self, aoi: BaseGeometry, start: date, end: date, *, max_cloud: float, max_days: float
    ) -> SearchResult:
        """Scenes over ``aoi`` (lon/lat) from ``start`` through ``end``, grouped and paired.

        ``max_cloud`` is the largest Sentinel-2 cloud cover in percent, ``max_days`` the
        largest time difference of a suggested pair.
        """
        ...

    def fetch(
        self,
        acquisitions: Sequence[Acquisition],
        aoi: BaseGeometry,
        config: FetchConfig,
        output_dir: str | os.PathLike[str],
    ) -> list[Path]:
        """Download ``acquisitions`` into ``output_dir`` on one grid over ``aoi``.

        Returns the outputs' paths: ``S1_<time>.tif`` files and ``S2_<time>/`` band
        folders, the forms ``prepare`` and ``colorize`` read.
        """
        ...


class DataSource(Protocol):
    """A named source of scenes, registered by a plugin."""

    name: str

    def connect(self, credentials: str | None, service: ServiceSettings) -> SourceConnection:
        """Authenticate and set up the client every request of one command goes through.

        ``credentials`` is the ``--credentials`` file (None: the source's own defaults,
        such as environment variables); ``service`` says how often to retry and how fast
        to ask.
        """
        ...


@runtime_checkable
class TargetedSource(Protocol):
    """A source that serves many endpoints, chosen as ``NAME:TARGET`` (``stac:cdse``)."""

    def with_target(self, target: str) -> DataSource:
        """The source bound to ``target`` (a preset name or a URL); bad ones are usage errors."""
        ...


def data_source(name: str) -> DataSource:
    """The data source ``name`` selects; an unknown name is a usage error.

    ``NAME:TARGET`` binds a :class:`TargetedSource` to one endpoint, e.g. ``stac:cdse``
    or ``stac:https://example.org/stac``. Sources come from the process-wide plugin set
    (:func:`geocolor.plugins.manager.get_plugins`), like every other plugin kind.
    """
    base, _, target = name.partition(":")
    sources = get_plugins().sources
    if base not in sources:
        known = ", ".join(sources.names()) or "none"
        raise UsageError(f"unknown data source {name!r} (known: {known})")
    source: DataSource = sources.get(base)
    if not target:
        return source
    if not isinstance(source, TargetedSource):
        raise UsageError(f"data source {base!r} takes no ':{target}' (use --source {base})")
    return source.with_target(target)
