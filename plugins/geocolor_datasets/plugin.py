"""Registers the built-in public dataset readers."""

from __future__ import annotations

from typing import Any

from geocolor.plugins import Registry, hookimpl
from geocolor_datasets.bigearthnet import BigEarthNet
from geocolor_datasets.sen1_2 import Sen1_2
from geocolor_datasets.sen1floods11 import Sen1Floods11
from geocolor_datasets.sen12ms import Sen12ms


@hookimpl
def geocolor_register_dataset_readers(registry: Registry[Any]) -> None:
    """Add BigEarthNet (v1 S1+S2), SEN12MS, SEN1-2 and Sen1Floods11."""
    for reader in (BigEarthNet(), Sen12ms(), Sen1_2(), Sen1Floods11()):
        registry.register(reader.name, reader)
