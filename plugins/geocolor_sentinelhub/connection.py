"""A Sentinel Hub connection serving as a :class:`geocolor.acquire.source.SourceConnection`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import Acquisition, SearchResult, search_scenes
from geocolor.acquire.fetch import FetchConfig, fetch_acquisitions
from geocolor.acquire.sentinelhub_session import (
    Connection,
    ServiceSettings,
    connect,
    load_credentials,
)


def open_connection(credentials: str | None, service: ServiceSettings) -> SentinelHubConnection:
    """Credentials from ``credentials`` (or the environment), then one token for the command."""
    return SentinelHubConnection(connect(load_credentials(credentials), service))


@dataclass(frozen=True)
class SentinelHubConnection:
    """The Catalog API search and the Process API fetch over one authenticated client."""

    connection: Connection

    def search(
        self, aoi: BaseGeometry, start: date, end: date, *, max_cloud: float, max_days: float
    ) -> SearchResult:
        """Sentinel-1 IW and Sentinel-2 L2A scenes, grouped into passes and paired."""
        return search_scenes(
            self.connection, aoi, start, end, max_cloud=max_cloud, max_days=max_days
        )

    def fetch(
        self,
        acquisitions: Sequence[Acquisition],
        aoi: BaseGeometry,
        config: FetchConfig,
        output_dir: str | os.PathLike[str],
    ) -> list[Path]:
        """Process API mosaics of each acquisition as GeoTIFFs on the AOI's grid."""
        return fetch_acquisitions(self.connection, acquisitions, aoi, config, output_dir)
