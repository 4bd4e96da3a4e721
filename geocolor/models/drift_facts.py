"""What kind of Sentinel-1 data a model was trained on, and how a scene differs from it.

Histograms say whether a scene's backscatter looks like the training data's; these
facts say why it might not: another acquisition mode, a missing polarisation, another
speckle filter or measure. They are plain values, gathered from the products' metadata
and the Sentinel-1 chain's settings, so a mismatch is reported even where the pixels
happen to look alike (or before they can be read: a scene without a polarisation the
model needs cannot be colorized at all).

Each fact is ``None`` where it is unknown (a model logged before a fact was recorded, a
processed raster that does not say); an unknown fact is never a mismatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Severity = Literal["warn", "drift"]

#: Degrees an incidence range may pass the training range by before it is a mismatch.
INCIDENCE_TOLERANCE = 1.0

# a Sentinel-1 product name: mission and mode lead it (S1A_IW_GRDH_1SDV_...)
_PRODUCT_NAME = re.compile(r"^(S1[A-D])_(IW|EW|SM|WV|S[1-6])_")


@dataclass(frozen=True)
class SarFacts:
    """Categorical facts of SAR data: one scene's, or the set a model was trained on.

    The tuples hold every value seen (one for a scene); ranges are (lowest, highest).

    Attributes
    ----------
    missions
        Satellites, e.g. ``("S1A", "S1B")``.
    modes
        Acquisition modes, e.g. ``("IW",)``.
    polarisations
        A model's input polarisations; a scene's available ones.
    ipf_range
        Lowest and highest IPF (processor) version, e.g. ``("003.40", "003.61")``.
    incidence_range
        Lowest and highest incidence angle in degrees.
    speckle_filters
        Speckle filters applied (``"none"`` when unfiltered).
    dem
        Whether the chain used a DEM (terrain correction).
    measures
        Backscatter measures: ``sigma0``, ``beta0``, ``gamma0`` (ellipsoid), ``gamma0-rtc``
        (terrain-flattened).
    """

    missions: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    polarisations: tuple[str, ...] | None = None
    ipf_range: tuple[str, str] | None = None
    incidence_range: tuple[float, float] | None = None
    speckle_filters: tuple[str, ...] | None = None
    dem: bool | None = None
    measures: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (tuples become lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SarFacts:
        """Inverse of :meth:`to_dict`; keys it does not know are ignored, missing ones None."""
        known = {field.name for field in fields(cls)}
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in data.items()
            if key in known
        }
        return cls(**values)

    def union(self, other: SarFacts) -> SarFacts:
        """Facts covering both: values joined, ranges widened; unknown in either stays unknown."""
        return SarFacts(
            missions=_joined(self.missions, other.missions),
            modes=_joined(self.modes, other.modes),
            polarisations=self.polarisations if self.polarisations == other.polarisations else None,
            ipf_range=_widened(self.ipf_range, other.ipf_range, _version_key),
            incidence_range=_widened(self.incidence_range, other.incidence_range, float),
            speckle_filters=_joined(self.speckle_filters, other.speckle_filters),
            dem=self.dem if self.dem == other.dem else None,
            measures=_joined(self.measures, other.measures),
        )


def product_name_facts(product_id: str) -> SarFacts:
    """Mission and mode read from a Sentinel-1 product name; unknown for any other name."""
    match = _PRODUCT_NAME.match(product_id)
    if match is None:
        return SarFacts()
    return SarFacts(missions=(match.group(1),), modes=(match.group(2),))


def scene_facts(acquisition: Mapping[str, Any], processing: Mapping[str, Any] | None) -> SarFacts:
    """Facts from a scene's metadata and the Sentinel-1 settings its backscatter went through.

    Parameters
    ----------
    acquisition
        :func:`geocolor.s1.facts.acquisition_facts` of the scene (mission and mode fall
        back on its product name).
    processing
        The chain's settings (``S1Config`` keys): the model's for a GRD product that
        ``colorize`` processes, the recorded ones for a processed raster, None unknown.
        geocolor's chain geocodes on the annotated tie-point heights, so settings of it
        mean no DEM.
    """
    named = product_name_facts(str(acquisition.get("product_id") or ""))
    mission, mode = acquisition.get("mission"), acquisition.get("mode")
    ipf, incidence = acquisition.get("ipf_version"), acquisition.get("incidence_range")
    polarisations, measures = acquisition.get("polarisations"), acquisition.get("measures")
    speckle = (processing or {}).get("speckle")
    measure = (processing or {}).get("measure")
    return SarFacts(
        missions=(str(mission),) if mission else named.missions,
        modes=(str(mode),) if mode else named.modes,
        polarisations=tuple(polarisations) if polarisations else None,
        ipf_range=(str(ipf), str(ipf)) if ipf else None,
        incidence_range=(float(incidence[0]), float(incidence[1])) if incidence else None,
        speckle_filters=(str(speckle),) if speckle else None,
        dem=None if processing is None else bool(processing.get("dem", False)),
        measures=(str(measure),) if measure else tuple(measures) if measures else None,
    )


@dataclass(frozen=True)
class Mismatch:
    """A fact in which a scene differs from the training data."""

    fact: str
    scene: str
    model: str
    severity: Severity

    def text(self) -> str:
        """``"mode: scene EW, model IW"``."""
        return f"{self.fact}: scene {self.scene}, model {self.model}"

    def to_dict(self) -> dict[str, str]:
        """JSON-serialisable form, with :meth:`text`."""
        return {**asdict(self), "text": self.text()}


# facts whose mismatch changes what the model sees wholesale, and those that may only
# shift it a little (a newer processor, a new satellite of the same design)
_DRIFT: Severity = "drift"
_WARN: Severity = "warn"


def mismatches(scene: SarFacts, model: SarFacts) -> list[Mismatch]:
    """Every known fact of ``scene`` outside what ``model`` was trained on.

    A polarisation, mode, measure or speckle filter the model never saw is ``drift``;
    another mission, an IPF version or incidence angle outside the training range, or
    another DEM use is ``warn``.
    """
    found: list[Mismatch] = []
    scene_pols, model_pols = scene.polarisations, model.polarisations
    if scene_pols is not None and model_pols is not None and not set(model_pols) <= set(scene_pols):
        found.append(Mismatch("polarisations", _plus(scene_pols), _plus(model_pols), _DRIFT))
    for fact, name, severity in (
        ("modes", "mode", _DRIFT),
        ("measures", "measure", _DRIFT),
        ("speckle_filters", "speckle filter", _DRIFT),
        ("missions", "mission", _WARN),
    ):
        seen, trained = getattr(scene, fact), getattr(model, fact)
        if seen is not None and trained is not None and not set(seen) <= set(trained):
            found.append(Mismatch(name, _plus(seen), _plus(trained), severity))
    if (
        scene.ipf_range
        and model.ipf_range
        and not _inside(scene.ipf_range, model.ipf_range, _version_key)
    ):
        found.append(Mismatch("IPF", _span(scene.ipf_range), _span(model.ipf_range), _WARN))
    if (
        scene.incidence_range
        and model.incidence_range
        and not _inside(scene.incidence_range, _loosened(model.incidence_range), float)
    ):
        found.append(
            Mismatch(
                "incidence angle",
                _span(scene.incidence_range, "°"),
                _span(model.incidence_range, "°"),
                _WARN,
            )
        )
    if scene.dem is not None and model.dem is not None and scene.dem != model.dem:
        found.append(Mismatch("DEM", _yes_no(scene.dem), _yes_no(model.dem), _WARN))
    return found


def _plus(values: Iterable[str]) -> str:
    return "+".join(values)


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _span(bounds: tuple[Any, Any], unit: str = "") -> str:
    low, high = (f"{value:.1f}" if isinstance(value, float) else str(value) for value in bounds)
    return f"{low}{unit}" if low == high else f"{low}..{high}{unit}"


def _joined(
    first: tuple[str, ...] | None, second: tuple[str, ...] | None
) -> tuple[str, ...] | None:
    if first is None or second is None:
        return None
    return tuple(sorted({*first, *second}))


def _widened(first: Any, second: Any, key: Any) -> Any:
    if first is None or second is None:
        return None
    both = (*first, *second)
    return (min(both, key=key), max(both, key=key))


def _inside(inner: Any, outer: Any, key: Any) -> bool:
    return bool(key(inner[0]) >= key(outer[0]) and key(inner[1]) <= key(outer[1]))


def _loosened(degrees: tuple[float, float]) -> tuple[float, float]:
    """An incidence range one degree wider each way: tie-point angles are interpolated."""
    return (degrees[0] - INCIDENCE_TOLERANCE, degrees[1] + INCIDENCE_TOLERANCE)


def _version_key(version: str) -> tuple[int, ...]:
    """``"003.40"`` -> ``(3, 40)``: IPF versions compare by their numbers."""
    return tuple(int(part) for part in re.findall(r"\d+", version))
