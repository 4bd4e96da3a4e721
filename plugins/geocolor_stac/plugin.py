"""Registers STAC as the data source ``stac`` and STAC Items as a Sentinel-1 reader.

``--source stac:<preset or URL>`` picks the catalogue (presets ``cdse``,
``planetary-computer``, ``earth-search``, ``planetary-computer-rtc``). Every command
loads the plugins, so this module stays light: pystac-client, planetary-computer and the
reading code are imported when a command first connects or opens an Item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from geocolor.errors import UsageError
from geocolor.plugins import Registry, hookimpl

if TYPE_CHECKING:
    from geocolor.acquire.sentinelhub_session import ServiceSettings
    from geocolor.acquire.source import DataSource
    from geocolor.s1.source import S1Reader, S1Source
    from geocolor_stac.connection import StacConnection


class StacSource:
    """Sentinel-1 and Sentinel-2 from any STAC API: ``stac:cdse``, ``stac:https://…``."""

    name: str = "stac"

    def __init__(self, target: str | None = None) -> None:
        self.target = target

    def with_target(self, target: str) -> StacSource:
        """This source bound to the preset or URL ``target`` (checked on connect)."""
        return StacSource(target)

    def connect(self, credentials: str | None, service: ServiceSettings) -> StacConnection:
        """Open the catalogue; ``credentials`` is unused (logins come from the environment)."""
        from geocolor.acquire.stac_catalog import PRESETS, stac_catalogue
        from geocolor_stac.connection import open_connection

        if self.target is None:
            presets = ", ".join(f"stac:{name}" for name in PRESETS)
            raise UsageError(f"--source stac needs a catalogue: {presets} or stac:<URL>")
        if credentials is not None:
            raise UsageError(
                "--credentials is for Sentinel Hub; STAC logins come from the environment "
                "(see docs/acquire.md)"
            )
        return open_connection(stac_catalogue(self.target), service)


class StacItemReader:
    """A Sentinel-1 STAC Item (a JSON file or URL): its SAFE zip, its SAFE files (rebuilt
    into a SAFE folder) or its backscatter COGs."""

    name = "stac-item"

    def can_open(self, path: str) -> bool:
        """Whether ``path`` is a ``.json`` file or URL holding a STAC Item."""
        from geocolor.acquire.stac_item import is_stac_item

        return is_stac_item(path)

    def open(self, path: str) -> S1Source:
        """The scene the Item's assets hold, opened by the reader for their kind."""
        from geocolor.acquire.stac_item import resolve_s1_item
        from geocolor.io.product_files import GEOCOLOR_VRT_DRIVERS
        from geocolor.s1.raster import open_backscatter_raster
        from geocolor.s1.source import open_s1

        resolved = resolve_s1_item(path)
        if resolved.endswith(".vrt"):
            # the Item's COGs, in a VRT geocolor has just written: the one VRT it trusts
            return open_backscatter_raster(resolved, GEOCOLOR_VRT_DRIVERS)
        return open_s1(resolved)


@hookimpl
def geocolor_register_sources(registry: Registry[DataSource]) -> None:
    """Add the STAC source."""
    registry.register(StacSource.name, StacSource())


@hookimpl
def geocolor_register_readers(registry: Registry[S1Reader]) -> None:
    """Add the STAC Item reader."""
    registry.register(StacItemReader.name, StacItemReader())
