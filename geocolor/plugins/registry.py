"""Registries that plugins fill through their ``geocolor_register_*`` hooks.

A registry is a named mapping that refuses duplicate names and remembers which plugin
added each entry, so ``geocolor plugins`` can say where everything came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from geocolor.errors import GeocolorError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered item and the plugin that registered it."""

    name: str
    item: T
    plugin: str


class Registry(Generic[T]):
    """Named items of one kind (backends, speckle filters, readers, sources).

    Parameters
    ----------
    kind
        Human name of the kind, used in messages (``"speckle filter"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._plugin = "<unknown>"

    def set_plugin(self, plugin: str) -> None:
        """Attribute the following registrations to ``plugin``."""
        self._plugin = plugin

    def register(self, name: str, item: T) -> None:
        """Add ``item`` under ``name``; a second plugin using the same name is an error."""
        if name in self._entries:
            first = self._entries[name].plugin
            raise GeocolorError(
                f"plugin {self._plugin!r} registers {self.kind} {name!r}, "
                f"already registered by plugin {first!r}"
            )
        self._entries[name] = Entry(name, item, self._plugin)

    def get(self, name: str) -> T:
        """The item called ``name``, or an error listing the names that exist."""
        try:
            return self._entries[name].item
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "none"
            raise GeocolorError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        """Entries in name order."""
        for name in self.names():
            yield self._entries[name]

    def in_registration_order(self) -> list[Entry[T]]:
        """Entries as they were registered: built-in plugins first, then third-party ones."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
