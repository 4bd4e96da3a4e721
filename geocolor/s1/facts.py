"""What a scene's metadata say of its acquisition and processing, as plain values.

``prepare`` records these facts with each pair and ``colorize`` gathers them for the
scene it colorizes, so the drift report (:mod:`geocolor.models.drift_facts`) can tell
a scene of another mode, polarisation or processing from the training data. Sources
are asked by duck typing: a GRD product knows its mission, mode, IPF version and
incidence angles; a processed raster its bands and, when geocolor wrote it, the chain's
settings; a plugin's source whatever its ``info`` carries.
"""

from __future__ import annotations

import json
from typing import Any

from geocolor.s1.source import S1Source


def acquisition_facts(source: S1Source) -> dict[str, Any]:
    """JSON-serialisable facts of ``source``; a key is None where the scene does not say.

    Keys: ``product_id``, ``mission``, ``mode``, ``ipf_version``, ``polarisations``,
    ``incidence_range`` (degrees), ``measures``, and ``processing`` (the Sentinel-1
    chain's settings a processed raster records).
    """
    info = source.info
    descriptions = tuple(getattr(info, "descriptions", ()) or ())
    polarisations = getattr(info, "polarisations", None) or tuple(
        text.split()[0].upper() for text in descriptions if text
    )
    incidence_range = getattr(getattr(source, "product", None), "incidence_range", None)
    incidence = incidence_range() if callable(incidence_range) else None
    processing = getattr(info, "processing", None)
    return {
        "product_id": info.product_id,
        "mission": getattr(info, "mission", None),
        "mode": getattr(info, "mode", None),
        "ipf_version": getattr(info, "ipf_version", None),
        "polarisations": list(polarisations) or None,
        "incidence_range": list(incidence) if incidence else None,
        "measures": sorted({text.split()[1] for text in descriptions if len(text.split()) > 1})
        or None,
        "processing": json.loads(processing) if processing else None,
    }
