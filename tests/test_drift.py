from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import scipy.stats

from geocolor.models.drift import (
    BINS,
    DriftReference,
    DriftThresholds,
    SarHistograms,
    compare,
    decile_psi,
    histogram_wasserstein,
    population_stability_index,
)
from geocolor.models.drift_facts import SarFacts, mismatches, product_name_facts, scene_facts
from geocolor.models.logged import ModelSpec
from geocolor.models.monitoring import log_colorization, metric_band_name
from tests.model_factory import NORMALISATION

IW = SarFacts(
    missions=("S1A", "S1B"),
    modes=("IW",),
    polarisations=("VV", "VH"),
    ipf_range=("003.40", "003.61"),
    incidence_range=(30.0, 46.0),
    speckle_filters=("lee",),
    dem=False,
    measures=("sigma0",),
)


def histograms(samples: np.ndarray, band: str = "VV sigma0 dB") -> SarHistograms:
    counted = SarHistograms.empty([band])
    counted.add(samples.reshape(1, 1, -1))
    return counted


def test_psi_matches_a_hand_computation() -> None:
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    found = population_stability_index(np.array([0.5, 0.5]), np.array([0.25, 0.75]))
    assert found == pytest.approx(expected, rel=1e-12)
    assert population_stability_index(np.array([0.3, 0.7]), np.array([0.3, 0.7])) == 0.0
    # an empty bin counts as epsilon: finite, and large
    empty = population_stability_index(np.array([0.5, 0.5]), np.array([0.0, 1.0]))
    assert math.isfinite(empty) and empty > 1


@pytest.mark.parametrize(("shift", "scale"), [(0.0, 1.0), (2.0, 1.0), (-1.0, 1.8), (6.0, 0.5)])
def test_wasserstein_from_histograms_matches_scipy_on_samples(shift: float, scale: float) -> None:
    rng = np.random.default_rng(4)
    reference = rng.normal(-12, 2.5, 40_000)
    observed = rng.normal(-12 + shift, 2.5 * scale, 30_000)
    found = histogram_wasserstein(
        histograms(reference).edge_cdf(0), histograms(observed).edge_cdf(0)
    )
    assert found == pytest.approx(scipy.stats.wasserstein_distance(reference, observed), abs=0.03)


def test_decile_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(5)
    reference = histograms(rng.normal(-12, 2, 50_000)).counts[0]
    same = histograms(rng.normal(-12, 2, 20_000)).counts[0]
    shifted = histograms(rng.normal(-10, 2, 20_000)).counts[0]  # one sigma
    assert decile_psi(reference, same) < 0.01
    assert decile_psi(reference, shifted) > 0.25


def test_histograms_add_up_block_by_block_and_count_nodata_and_the_ends() -> None:
    rng = np.random.default_rng(6)
    block = rng.normal(-15, 8, (2, 40, 30)).astype(np.float32)
    block[:, :5] = np.nan
    block[0, 10, :3] = (-80.0, 35.0, 20.0)
    whole = SarHistograms.empty(["VV", "VH"])
    whole.add(block)
    halves = SarHistograms.empty(["VV", "VH"])
    halves.add(block[:, :20])
    halves.add(block[:, 20:])
    assert np.array_equal(whole.counts, halves.counts)
    assert whole.nodata.tolist() == [150, 150]
    assert whole.nodata_fraction() == pytest.approx([0.125, 0.125])
    assert whole.counts.shape == (2, BINS + 2)
    assert whole.counts[0, 0] >= 1 and whole.counts[0, -1] >= 2  # below -50, at/above +20
    assert whole.valid().tolist() == [1050, 1050]
    median = whole.quantiles()[:, 3]
    assert median == pytest.approx(np.nanmedian(block.reshape(2, -1), axis=1), abs=0.3)


def test_reference_round_trips_through_the_model_spec_and_older_specs_have_none() -> None:
    rng = np.random.default_rng(7)
    counted = SarHistograms.empty(NORMALISATION.sar_bands)
    counted.add(rng.normal(-14, 3, (2, 16, 16)))
    reference = DriftReference(counted, IW)
    spec = ModelSpec("cyclegan", {}, 2, 3, NORMALISATION, None, reference)
    loaded = ModelSpec.from_json(spec.to_json())
    assert loaded.drift_reference is not None
    assert np.array_equal(loaded.drift_reference.histograms.counts, counted.counts)
    assert loaded.drift_reference.facts == IW
    older = json.loads(spec.to_json())
    del older["drift_reference"]
    assert ModelSpec.from_json(json.dumps(older)).drift_reference is None


def test_facts_that_change_the_data_are_drift_and_the_others_warn() -> None:
    scene = SarFacts(
        missions=("S1C",),
        modes=("EW",),
        polarisations=("HH",),
        ipf_range=("003.90", "003.90"),
        incidence_range=(20.0, 25.0),
        speckle_filters=("none",),
        dem=True,
        measures=("gamma0",),
    )
    found = {m.fact: (m.severity, m.text()) for m in mismatches(scene, IW)}
    assert found == {
        "polarisations": ("drift", "polarisations: scene HH, model VV+VH"),
        "mode": ("drift", "mode: scene EW, model IW"),
        "measure": ("drift", "measure: scene gamma0, model sigma0"),
        "speckle filter": ("drift", "speckle filter: scene none, model lee"),
        "mission": ("warn", "mission: scene S1C, model S1A+S1B"),
        "IPF": ("warn", "IPF: scene 003.90, model 003.40..003.61"),
        "incidence angle": ("warn", "incidence angle: scene 20.0..25.0°, model 30.0..46.0°"),
        "DEM": ("warn", "DEM: scene yes, model no"),
    }
    # unknown facts are no mismatch; more polarisations than needed are fine
    assert mismatches(SarFacts(polarisations=("VV", "VH", "HH")), IW) == []
    assert mismatches(IW, SarFacts()) == []


def test_scene_facts_from_metadata_and_product_names() -> None:
    assert product_name_facts("S1B_EW_GRDM_1SDH_20200101T000000_x") == SarFacts(
        missions=("S1B",), modes=("EW",)
    )
    assert product_name_facts("my_scene") == SarFacts()
    facts = scene_facts(
        {"product_id": "S1A_IW_GRDH_x", "polarisations": ["VV"], "ipf_version": "003.52"},
        {"speckle": "lee", "measure": "sigma0"},
    )
    assert facts.modes == ("IW",) and facts.ipf_range == ("003.52", "003.52")
    assert facts.speckle_filters == ("lee",) and facts.dem is False
    assert scene_facts({"product_id": "x"}, None).dem is None


def test_verdict_summary_and_worst_band() -> None:
    rng = np.random.default_rng(8)
    reference = SarHistograms.empty(["VV", "VH"])
    reference.add(np.stack([rng.normal(-10, 2, (100, 100)), rng.normal(-17, 2, (100, 100))]))
    observed = SarHistograms.empty(["VV", "VH"])
    observed.add(np.stack([rng.normal(-10, 2, (50, 50)), rng.normal(-15.5, 2, (50, 50))]))
    report = compare(DriftReference(reference, IW), observed, SarFacts(modes=("IW",)))
    assert report.verdict == "drift"
    assert report.worst_band is not None and report.worst_band.band == "VH"
    assert [band.verdict for band in report.bands] == ["ok", "drift"]
    assert report.summary().startswith("drift: worst band VH (PSI ")
    assert json.loads(json.dumps(report.to_dict()))["worst_band"] == "VH"
    lenient = DriftThresholds(psi_drift=10, wasserstein_drift_db=10)
    assert compare(DriftReference(reference, IW), observed, IW, lenient).verdict == "warn"


def test_thresholds_refuse_warn_above_drift() -> None:
    with pytest.raises(ValueError, match="must not exceed"):
        DriftThresholds(psi_warn=0.5, psi_drift=0.25)


def test_metric_band_names_are_mlflow_safe() -> None:
    assert metric_band_name("VV sigma0 dB") == "VV_sigma0_dB"
    assert metric_band_name("HH/HV (ratio)") == "HH_HV_ratio_"


def test_an_unreachable_tracking_server_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    mlflow.set_tracking_uri("http://127.0.0.1:9")
    with caplog.at_level(logging.WARNING, logger="geocolor.models.monitoring"):
        for _ in range(2):
            run = log_colorization(
                None, model_uri="m", model_name=None, model_version=None, scene="s", output="o"
            )
            assert run is None
    assert sum("cannot log the colorization" in r.message for r in caplog.records) == 1
