"""A STAC API connection serving as a :class:`geocolor.acquire.source.SourceConnection`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import requests
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import Acquisition, SearchResult
from geocolor.acquire.cdse_auth import download_session
from geocolor.acquire.fetch import FetchConfig
from geocolor.acquire.sentinelhub_session import ServiceSettings
from geocolor.acquire.stac_catalog import StacCatalogue, search_items
from geocolor.acquire.stac_fetch import fetch_items
from geocolor.errors import GeocolorError


def open_connection(catalogue: StacCatalogue, service: ServiceSettings) -> StacConnection:
    """Open the catalogue's landing page, with retries; Planetary Computer items get signed."""
    from pystac_client import Client
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO
    from urllib3.util.retry import Retry

    retry = Retry(
        total=service.max_attempts - 1,
        backoff_factor=service.retry_sleep,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
    )
    stac_io = StacApiIO(max_retries=retry, timeout=service.timeout)
    modifier = None
    if catalogue.sign:
        import planetary_computer

        modifier = planetary_computer.sign_inplace
    try:
        client = Client.open(catalogue.url, modifier=modifier, stac_io=stac_io)
    except (APIError, requests.RequestException) as exc:
        raise GeocolorError(
            f"cannot open the STAC API at {catalogue.url} ({type(exc).__name__})"
        ) from None
    return StacConnection(catalogue, client)


@dataclass
class StacConnection:
    """Searches a STAC API and fetches what the last search found."""

    catalogue: StacCatalogue
    client: Any
    items: dict[str, dict[str, Any]] = field(default_factory=dict)

    def search(
        self, aoi: BaseGeometry, start: date, end: date, *, max_cloud: float, max_days: float
    ) -> SearchResult:
        """Sentinel-1 and Sentinel-2 L2A items, grouped into passes and paired."""
        found = search_items(
            self.client, self.catalogue, aoi, start, end, max_cloud=max_cloud, max_days=max_days
        )
        self.items.update(found.items)
        return found.result

    def fetch(
        self,
        acquisitions: Sequence[Acquisition],
        aoi: BaseGeometry,
        config: FetchConfig,
        output_dir: str | os.PathLike[str],
    ) -> list[Path]:
        """COG windows on the AOI's grid, or whole SAFE zips (see ``stac_fetch``)."""
        return fetch_items(
            acquisitions,
            self.items,
            aoi,
            config,
            output_dir,
            source=f"STAC API at {self.catalogue.url}",
            session=download_session,
        )
