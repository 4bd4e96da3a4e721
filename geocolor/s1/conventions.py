"""What a scene's backscatter went through: the record a store and a model keep of it.

A raw product in radar geometry goes through geocolor's chain (:mod:`geocolor.s1.backscatter`)
with the settings it is given. A processed raster (``process-s1``, ``fetch``, another
processor) is only warped and converted between dB and linear power: its calibration,
noise removal and speckle filtering are what its ``processing`` tag records, and
unknown where it records nothing. ``prepare`` keeps this record with each pair, so a
model says truthfully whether its training data was speckle-filtered, and ``colorize``
can bring a scene to the same state (:mod:`geocolor.colorize.conventions`).
"""

from __future__ import annotations

import json
from typing import Any

from geocolor.s1.backscatter import S1Config
from geocolor.s1.source import S1Source

#: Settings a processed raster arrives with and that warping does not change.
ARRIVES_WITH = ("denoise", "speckle", "window", "looks")


def recorded_processing(source: S1Source) -> dict[str, Any] | None:
    """The chain settings a processed raster records (its ``processing`` tag), else None."""
    text = getattr(source.info, "processing", None)
    if not text:
        return None
    try:
        recorded = json.loads(text)
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) else None


def applied_processing(source: S1Source, config: S1Config) -> dict[str, Any]:
    """``config``'s settings as ``source.on_grid(config, ...)`` really applies them.

    A scene in radar geometry goes through the chain with ``config``; a scene already on
    a map grid keeps the noise removal and speckle filtering it arrived with (None where
    it does not say), whatever ``config`` asks.
    """
    settings = config.model_dump(mode="json")
    if source.native_grid() is not None:
        recorded = recorded_processing(source) or {}
        settings.update({key: recorded.get(key) for key in ARRIVES_WITH})
    return settings
