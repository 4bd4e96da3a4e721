"""Registers the built-in public dataset readers."""

from __future__ import annotations

from typing import Any

from geocolor.plugins import Registry, hookimpl
from geocolor_datasets.bigearthnet import BigEarthNet
from geocolor_datasets.sen12ms import Sen12ms


@hookimpl
def geocolor_register_dataset_readers(registry: Registry[Any]) -> None:
    """Add BigEarthNet (v1 S1+S2) and SEN12MS."""
    for reader in (BigEarthNet(), Sen12ms()):
        registry.register(reader.name, reader)
