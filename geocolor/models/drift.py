"""Input drift: is a scene's SAR like the data the model was trained on?

A model trained on one kind of backscatter gives confident-looking fiction on another.
Training records a :class:`DriftReference` with the model: per band, a histogram of the
SAR input in dB over fixed bins, and the categorical facts of its products
(:mod:`~geocolor.models.drift_facts`). ``colorize`` gathers the same histograms over the
scene it colorizes and :func:`compare` scores the two per band, with the population
stability index and the Wasserstein distance, and lists the facts that differ; the
:class:`DriftReport` ends in a verdict, ``ok``, ``warn`` or ``drift``.

The bins are the same for every model (:data:`EDGES`, -50 to +20 dB in 0.25 dB steps,
plus one bin below and one above), so histograms add up block by block and any scene
compares with any model. Everything here is plain numpy: the reference is saved in the
model's spec and loads without the training store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydantic

from geocolor.config import Config
from geocolor.errors import GeocolorError
from geocolor.models.drift_facts import Mismatch, SarFacts, mismatches

Verdict = Literal["ok", "warn", "drift"]
_ORDER: tuple[Verdict, ...] = ("ok", "warn", "drift")

#: Fixed dB bins shared by all models: Sentinel-1 sigma0 lies well within -50..+20 dB.
LOW_DB, HIGH_DB, STEP_DB = -50.0, 20.0, 0.25
BINS = round((HIGH_DB - LOW_DB) / STEP_DB)
EDGES = LOW_DB + STEP_DB * np.arange(BINS + 1)
#: Quantiles reported per band.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: The PSI compares the share of pixels in the reference's deciles (the usual
#: credit-scoring binning, which its thresholds are calibrated for), not in the fine
#: bins, whose emptiness in a small scene would be noise.
PSI_GROUPS = 10
#: Share given to an empty group, so the PSI stays finite.
PSI_EPSILON = 1e-4


class DriftThresholds(Config):
    """When a band's scores make the verdict ``warn`` or ``drift`` (``colorize`` keys ``drift.*``).

    The PSI bounds are the credit-scoring conventions: below 0.1 no real shift, 0.1 to
    0.25 a moderate one, above 0.25 a population unlike the reference. The Wasserstein
    distance is the mean shift of a pixel's backscatter in dB between the two
    distributions: Sentinel-1's absolute calibration is about 1 dB, and seasons (soil
    moisture, vegetation) move a landscape by one or two, so 1 dB is worth a warning;
    3 dB (twice the power) no longer happens by weather or calibration, but by another
    kind of data (processing, mode, area).
    """

    psi_warn: float = pydantic.Field(default=0.1, gt=0)
    psi_drift: float = pydantic.Field(default=0.25, gt=0)
    wasserstein_warn_db: float = pydantic.Field(default=1.0, gt=0)
    wasserstein_drift_db: float = pydantic.Field(default=3.0, gt=0)

    @pydantic.model_validator(mode="after")
    def _warn_before_drift(self) -> DriftThresholds:
        if self.psi_warn > self.psi_drift or self.wasserstein_warn_db > self.wasserstein_drift_db:
            raise ValueError("a warn threshold must not exceed its drift threshold")
        return self


@dataclass
class SarHistograms:
    """Per band: pixel counts over :data:`EDGES` (below, the bins, above) and nodata counts.

    Histograms are additive, so a scene is gathered block by block with :meth:`add`.
    """

    bands: tuple[str, ...]
    counts: np.ndarray
    nodata: np.ndarray

    @classmethod
    def empty(cls, bands: Sequence[str]) -> SarHistograms:
        """No pixel yet."""
        return cls(
            tuple(bands),
            np.zeros((len(bands), BINS + 2), dtype=np.int64),
            np.zeros(len(bands), dtype=np.int64),
        )

    def add(self, block: np.ndarray) -> None:
        """Count a (bands, height, width) block of dB values; NaN is nodata."""
        if block.ndim != 3 or block.shape[0] != len(self.bands):
            raise GeocolorError(
                f"drift statistics: expected ({len(self.bands)}, height, width), got {block.shape}"
            )
        for band, values in enumerate(block.reshape(block.shape[0], -1)):
            finite = values[np.isfinite(values)]
            self.nodata[band] += values.size - finite.size
            # bin 0 is below LOW_DB, bin BINS + 1 above HIGH_DB
            index = np.floor((finite - LOW_DB) / STEP_DB).astype(np.int64) + 1
            self.counts[band] += np.bincount(np.clip(index, 0, BINS + 1), minlength=BINS + 2)

    def valid(self) -> np.ndarray:
        """Valid pixels per band."""
        total: np.ndarray = self.counts.sum(axis=1)
        return total

    def nodata_fraction(self) -> np.ndarray:
        """Share of nodata pixels per band (NaN before any pixel)."""
        seen = self.valid() + self.nodata
        return np.where(seen > 0, self.nodata / np.maximum(seen, 1), np.nan)

    def edge_cdf(self, band: int) -> np.ndarray:
        """The band's cumulative share of valid pixels at each of :data:`EDGES`.

        Pixels below and above the range count as lying on its ends.
        """
        counts = self.counts[band]
        cumulative: np.ndarray = np.cumsum(counts)[: BINS + 1] / max(int(counts.sum()), 1)
        return cumulative

    def quantiles(self) -> np.ndarray:
        """(bands, len(QUANTILES)) dB, linear within a bin; NaN for a band without data."""
        out = np.full((len(self.bands), len(QUANTILES)), np.nan)
        for band in range(len(self.bands)):
            if self.valid()[band]:
                out[band] = np.interp(QUANTILES, self.edge_cdf(band), EDGES)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, with the bins, quantiles and nodata fractions spelled out."""
        return {
            "bands": list(self.bands),
            "bins_db": {"low": LOW_DB, "high": HIGH_DB, "step": STEP_DB},
            "counts": self.counts.tolist(),
            "nodata": self.nodata.tolist(),
            "nodata_fraction": _floats(self.nodata_fraction()),
            "quantiles": {
                f"{q:g}": _floats(values)
                for q, values in zip(QUANTILES, self.quantiles().T, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SarHistograms:
        """Inverse of :meth:`to_dict`; refuses histograms over other bins."""
        try:
            bins = data["bins_db"]
            if (bins["low"], bins["high"], bins["step"]) != (LOW_DB, HIGH_DB, STEP_DB):
                raise GeocolorError(f"drift histograms over other bins ({bins})")
            histograms = cls(
                tuple(str(band) for band in data["bands"]),
                np.asarray(data["counts"], dtype=np.int64),
                np.asarray(data["nodata"], dtype=np.int64),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GeocolorError(f"drift histograms lack or mangle {exc}") from None
        if histograms.counts.shape != (len(histograms.bands), BINS + 2):
            raise GeocolorError(f"drift histograms of shape {histograms.counts.shape}")
        return histograms


@dataclass(frozen=True)
class DriftReference:
    """What a model's training input looked like: histograms per band and the facts."""

    histograms: SarHistograms
    facts: SarFacts

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, saved in the model's spec."""
        return {"histograms": self.histograms.to_dict(), "facts": self.facts.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        """Inverse of :meth:`to_dict`."""
        return cls(SarHistograms.from_dict(data["histograms"]), SarFacts.from_dict(data["facts"]))


def population_stability_index(
    expected: np.ndarray, observed: np.ndarray, epsilon: float = PSI_EPSILON
) -> float:
    """PSI = sum over bins of (observed - expected) * ln(observed / expected).

    Both are shares per bin (each summing to 1); an empty bin counts as ``epsilon``.
    """
    e, o = np.maximum(expected, epsilon), np.maximum(observed, epsilon)
    return float(np.sum((o - e) * np.log(o / e)))


def decile_psi(reference: np.ndarray, observed: np.ndarray) -> float:
    """PSI of two count vectors over :data:`EDGES`, in groups of the reference's deciles.

    The deciles are snapped to the fixed bins, so a reference piled into few bins gives
    fewer, larger groups rather than empty ones.
    """
    cumulative = np.cumsum(reference) / reference.sum()
    splits = np.searchsorted(cumulative, np.arange(1, PSI_GROUPS) / PSI_GROUPS) + 1
    starts = np.unique(np.concatenate([[0], splits[splits < reference.size]]))
    grouped_reference = np.add.reduceat(reference, starts) / reference.sum()
    grouped_observed = np.add.reduceat(observed, starts) / observed.sum()
    return population_stability_index(grouped_reference, grouped_observed)


def histogram_wasserstein(reference_cdf: np.ndarray, observed_cdf: np.ndarray) -> float:
    """Wasserstein-1 distance in dB of two distributions given by their CDFs at :data:`EDGES`.

    It is the area between the CDFs; within a bin both are taken as linear (pixels
    spread evenly), so the integral is the trapezoid rule, exact to well under a bin.
    """
    gap = np.abs(reference_cdf - observed_cdf)
    return float(np.sum((gap[1:] + gap[:-1]) / 2) * STEP_DB)


@dataclass(frozen=True)
class BandDrift:
    """One band's scores: PSI, Wasserstein distance (dB), and what they make of it."""

    band: str
    psi: float
    wasserstein_db: float
    verdict: Verdict
    nodata_fraction: float
    reference_nodata_fraction: float
    quantiles_db: tuple[float | None, ...]
    reference_quantiles_db: tuple[float | None, ...]

    def severity(self, thresholds: DriftThresholds) -> float:
        """The larger score as a share of its drift threshold (infinite without data)."""
        if not np.isfinite(self.psi):
            return float("inf")
        return max(
            self.psi / thresholds.psi_drift, self.wasserstein_db / thresholds.wasserstein_drift_db
        )

    def scores(self) -> str:
        """``"PSI 0.03, W1 0.21 dB"``."""
        return f"PSI {self.psi:.2f}, W1 {self.wasserstein_db:.2f} dB"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (NaN becomes null)."""
        return {
            "band": self.band,
            "psi": _float(self.psi),
            "wasserstein_db": _float(self.wasserstein_db),
            "verdict": self.verdict,
            "nodata_fraction": _float(self.nodata_fraction),
            "reference_nodata_fraction": _float(self.reference_nodata_fraction),
            "quantiles_db": dict(
                zip(map("{:g}".format, QUANTILES), self.quantiles_db, strict=True)
            ),
            "reference_quantiles_db": dict(
                zip(map("{:g}".format, QUANTILES), self.reference_quantiles_db, strict=True)
            ),
        }


@dataclass(frozen=True)
class DriftReport:
    """How a scene compares with a model's training input, ending in a verdict."""

    verdict: Verdict
    bands: tuple[BandDrift, ...]
    mismatches: tuple[Mismatch, ...]
    thresholds: DriftThresholds
    scene_facts: SarFacts
    reference_facts: SarFacts
    worst_band: BandDrift | None = field(default=None)

    def causes(self) -> list[str]:
        """What makes the verdict: the worst band when it is not ok, then each mismatch."""
        found = [m.text() for m in self.mismatches]
        worst = self.worst_band
        if worst is not None and worst.verdict != "ok":
            found.insert(0, f"band {worst.band} ({worst.scores()})")
        return found

    def summary(self) -> str:
        """One line: the verdict, the worst band and its scores, the mismatched facts."""
        worst = self.worst_band
        line = f"{self.verdict}: " + (
            f"worst band {worst.band} ({worst.scores()})" if worst else "no band compared"
        )
        return "; ".join([line, *(m.text() for m in self.mismatches)])

    def to_dict(self) -> dict[str, Any]:
        """The full report, JSON-serialisable: what the sidecar and the MLflow artifact hold."""
        return {
            "verdict": self.verdict,
            "summary": self.summary(),
            "worst_band": self.worst_band.band if self.worst_band else None,
            "bands": [band.to_dict() for band in self.bands],
            "mismatches": [mismatch.to_dict() for mismatch in self.mismatches],
            "thresholds": self.thresholds.model_dump(mode="json"),
            "scene_facts": self.scene_facts.to_dict(),
            "reference_facts": self.reference_facts.to_dict(),
        }


def compare(
    reference: DriftReference,
    observed: SarHistograms | None,
    facts: SarFacts,
    thresholds: DriftThresholds | None = None,
) -> DriftReport:
    """Score ``observed`` (a scene's histograms; None before its pixels are read) and its facts.

    A band is ``warn`` or ``drift`` when its PSI or Wasserstein distance reaches that
    threshold, and ``drift`` without a valid pixel. The verdict is the worst of the
    bands' and the facts' (:func:`~geocolor.models.drift_facts.mismatches`).
    """
    thresholds = thresholds or DriftThresholds()
    bands = [] if observed is None else _band_scores(reference.histograms, observed, thresholds)
    found = tuple(mismatches(facts, reference.facts))
    verdicts = [band.verdict for band in bands] + [m.severity for m in found]
    worst = max(bands, key=lambda band: band.severity(thresholds), default=None)
    return DriftReport(
        verdict=max(verdicts, key=_ORDER.index, default="ok"),
        bands=tuple(bands),
        mismatches=found,
        thresholds=thresholds,
        scene_facts=facts,
        reference_facts=reference.facts,
        worst_band=worst,
    )


def _band_scores(
    reference: SarHistograms, observed: SarHistograms, thresholds: DriftThresholds
) -> list[BandDrift]:
    scores = []
    reference_quantiles, observed_quantiles = reference.quantiles(), observed.quantiles()
    for band, name in enumerate(reference.bands):
        if name not in observed.bands:
            continue
        seen = observed.bands.index(name)
        if observed.valid()[seen] and reference.valid()[band]:
            psi = decile_psi(reference.counts[band], observed.counts[seen])
            distance = histogram_wasserstein(reference.edge_cdf(band), observed.edge_cdf(seen))
        else:
            psi = distance = float("nan")
        scores.append(
            BandDrift(
                band=name,
                psi=psi,
                wasserstein_db=distance,
                verdict=_band_verdict(psi, distance, thresholds),
                nodata_fraction=float(observed.nodata_fraction()[seen]),
                reference_nodata_fraction=float(reference.nodata_fraction()[band]),
                quantiles_db=tuple(_floats(observed_quantiles[seen])),
                reference_quantiles_db=tuple(_floats(reference_quantiles[band])),
            )
        )
    return scores


def _band_verdict(psi: float, distance: float, thresholds: DriftThresholds) -> Verdict:
    if not (np.isfinite(psi) and np.isfinite(distance)):
        return "drift"
    if psi >= thresholds.psi_drift or distance >= thresholds.wasserstein_drift_db:
        return "drift"
    if psi >= thresholds.psi_warn or distance >= thresholds.wasserstein_warn_db:
        return "warn"
    return "ok"


def _float(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


def _floats(values: np.ndarray) -> list[float | None]:
    return [_float(value) for value in values]
