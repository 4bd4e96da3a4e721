"""Registers Sentinel Hub as the data source ``sentinelhub``.

The CLI loads every plugin, so this module stays light: the ``sentinelhub`` client is
imported when a command first connects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geocolor.plugins import Registry, hookimpl

if TYPE_CHECKING:
    from geocolor.acquire.sentinelhub_session import ServiceSettings
    from geocolor.acquire.source import DataSource
    from geocolor_sentinelhub.connection import SentinelHubConnection


class SentinelHubSource:
    """Sentinel-1 GRD and Sentinel-2 L2A from Copernicus Data Space or any Sentinel Hub."""

    name: str = "sentinelhub"

    def connect(self, credentials: str | None, service: ServiceSettings) -> SentinelHubConnection:
        """Read the credentials and obtain a token (see ``docs/acquire.md``)."""
        from geocolor_sentinelhub.connection import open_connection

        return open_connection(credentials, service)


@hookimpl
def geocolor_register_sources(registry: Registry[DataSource]) -> None:
    """Add the Sentinel Hub source."""
    registry.register(SentinelHubSource.name, SentinelHubSource())
