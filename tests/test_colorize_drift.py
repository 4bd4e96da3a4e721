"""colorize's drift report: verdicts for scenes like and unlike the training input."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS
from scipy.ndimage import uniform_filter
from torch import nn

from geocolor.cli import main
from geocolor.colorize.drift_check import DriftError
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.config import Config
from geocolor.models.drift import DriftReference, SarHistograms
from geocolor.models.drift_facts import SarFacts
from geocolor.models.logged import LoadedModel
from geocolor.models.monitoring import (
    EXPERIMENT,
    REPORT_ARTIFACT,
    TAG_MODEL_URI,
    TAG_MODEL_VERSION,
    TAG_OUTPUT,
    TAG_SCENE,
    TAG_VERDICT,
    TAG_WORST_BAND,
)
from tests.model_factory import NORMALISATION, log_tiny_model

UTM = CRS.from_epsg(32631)
BANDS = NORMALISATION.sar_bands
IW_PRODUCT = "S1A_IW_GRDH_1SDV_20210614T052647_20210614T052712_038328_048600_4B2C"
TRAINED = SarFacts(
    missions=("S1A",),
    modes=("IW",),
    polarisations=("VV", "VH"),
    speckle_filters=("lee",),
    measures=("sigma0",),
)
SIZE = 96


class FirstBandGrey(nn.Module):
    """Two SAR bands in, three equal colour bands out."""

    size_multiple = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].expand(-1, 3, -1, -1)


def landscape(seed: int, filtered: bool = True) -> np.ndarray:
    """VV and VH dB of fields with 4.4-look speckle, Lee-like smoothed when ``filtered``."""
    rng = np.random.default_rng(seed)
    fields = rng.choice([-14.0, -9.0, -18.0], size=(SIZE // 16, SIZE // 16))
    mean = np.kron(fields, np.ones((16, 16)))
    power = 10 ** (np.stack([mean, mean - 7]) / 10)
    speckled = power * rng.gamma(4.4, 1 / 4.4, size=power.shape)
    if filtered:
        speckled = uniform_filter(speckled, size=(1, 7, 7))
    return (10 * np.log10(speckled)).astype(np.float32)


def reference() -> DriftReference:
    counted = SarHistograms.empty(BANDS)
    for seed in range(10, 16):
        counted.add(landscape(seed))
    return DriftReference(counted, TRAINED)


def model(with_reference: bool = True) -> LoadedModel:
    return LoadedModel(
        uri="test:grey",
        backend="test",
        config=Config(),
        normalisation=NORMALISATION,
        sar_processing=None,
        generator=FirstBandGrey(),
        in_channels=2,
        out_channels=3,
        receptive_field=4,
        size_multiple=4,
        device=torch.device("cpu"),
        version=None,
        drift_reference=reference() if with_reference else None,
    )


def write_scene(
    path: Path, data: np.ndarray, product: str = IW_PRODUCT, bands: tuple[str, ...] = BANDS
) -> str:
    profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": len(bands)}
    with rasterio.open(
        path,
        "w",
        **profile,
        dtype="float32",
        crs=UTM,
        transform=Affine(10, 0, 500_000, 0, -10, 5_000_000),
        nodata=np.nan,
    ) as dst:
        dst.write(data[: len(bands)])
        dst.descriptions = bands
        dst.update_tags(input_product=product)
    return str(path)


CONFIG = ColorizeConfig(tile_size=64, overlap=8)


def test_a_scene_from_the_training_distribution_is_ok(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "scene.tif", landscape(1))
    out = tmp_path / "colour.tif"
    result = colorize(scene, model(), str(out), config=CONFIG)
    assert result.drift is not None and result.drift.verdict == "ok", result.drift.summary()
    with rasterio.open(out) as src:
        tags = src.tags()
    assert tags["drift_verdict"] == "ok"
    assert tags["drift_summary"].startswith("ok: worst band ")
    sidecar = json.loads(Path(f"{out}.drift.json").read_text())
    assert sidecar["verdict"] == "ok" and [b["band"] for b in sidecar["bands"]] == list(BANDS)


def test_the_same_scene_six_db_brighter_is_drift_naming_the_band(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "bright.tif", landscape(1) + 6)
    out = tmp_path / "colour.tif"
    result = colorize(scene, model(), str(out), config=CONFIG)
    report = result.drift
    assert report is not None and report.verdict == "drift"
    assert report.worst_band is not None and report.worst_band.band in BANDS
    assert report.worst_band.wasserstein_db == pytest.approx(6, abs=0.3)
    assert f"band {report.worst_band.band}" in report.causes()[0]
    with rasterio.open(out) as src:
        assert src.tags()["drift_verdict"] == "drift"


def test_an_unfiltered_scene_for_a_filtered_model_is_drift(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "raw.tif", landscape(1, filtered=False))
    result = colorize(scene, model(), str(tmp_path / "colour.tif"), config=CONFIG)
    assert result.drift is not None and result.drift.verdict == "drift"
    assert all(band.verdict == "drift" for band in result.drift.bands)


def test_a_vv_only_scene_for_a_dual_pol_model_is_drift_not_a_reader_error(
    tmp_path: Path,
) -> None:
    scene = write_scene(tmp_path / "vv.tif", landscape(1), bands=BANDS[:1])
    out = tmp_path / "colour.tif"
    with pytest.raises(DriftError, match="polarisations: scene VV, model VV\\+VH") as refused:
        colorize(scene, model(), str(out), config=CONFIG)
    assert refused.value.report.verdict == "drift"
    assert not out.exists()


def test_a_scene_in_another_mode_is_drift_naming_the_mode(tmp_path: Path) -> None:
    ew = IW_PRODUCT.replace("_IW_GRDH_", "_EW_GRDM_")
    scene = write_scene(tmp_path / "ew.tif", landscape(1), product=ew)
    result = colorize(scene, model(), str(tmp_path / "colour.tif"), config=CONFIG)
    assert result.drift is not None and result.drift.verdict == "drift"
    assert "mode: scene EW, model IW" in result.drift.causes()


def test_a_model_without_reference_colorizes_with_verdict_unknown(tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "scene.tif", landscape(1) + 6)
    out = tmp_path / "colour.tif"
    result = colorize(scene, model(with_reference=False), str(out), config=CONFIG)
    assert result.drift is None
    with rasterio.open(out) as src:
        assert src.tags()["drift_verdict"] == "unknown"
    assert not Path(f"{out}.drift.json").exists()


def monitoring_runs() -> list[mlflow.entities.Run]:
    found = mlflow.MlflowClient().get_experiment_by_name(EXPERIMENT)
    assert found is not None
    return list(mlflow.MlflowClient().search_runs([found.experiment_id]))


def test_fail_on_drift_exits_1_writes_nothing_and_logs_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the monitoring run's artifacts go to ./mlruns
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", drift_reference=reference())
    scene = write_scene(tmp_path / "bright.tif", landscape(1) + 6)
    out = tmp_path / "colour.tif"
    code = main(["--quiet", "colorize", scene, "--model", uri, "-o", str(out), "--fail-on-drift"])
    assert code == 1
    assert not out.exists() and not Path(f"{out}.drift.json").exists()
    assert "input drift, not colorized: drift: worst band" in capsys.readouterr().err
    (run,) = monitoring_runs()
    assert run.data.tags[TAG_VERDICT] == "drift" and run.data.tags[TAG_OUTPUT] == ""


def test_the_cli_prints_the_verdict_and_logs_a_monitoring_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the monitoring run's artifacts go to ./mlruns
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", drift_reference=reference())
    scene = write_scene(tmp_path / "scene.tif", landscape(1))
    out = tmp_path / "colour.tif"
    assert main(["--quiet", "colorize", scene, "--model", uri, "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert printed.out.strip().splitlines()[-1] == str(out)
    assert printed.err.strip().splitlines()[-1].startswith("drift: ok: worst band ")
    (run,) = monitoring_runs()
    tags, metrics = run.data.tags, run.data.metrics
    assert tags[TAG_MODEL_URI] == uri and tags[TAG_MODEL_VERSION] == "1"
    assert tags[TAG_SCENE] == scene and tags[TAG_OUTPUT] == str(out)
    assert tags[TAG_VERDICT] == "ok" and tags[TAG_WORST_BAND] in BANDS
    assert set(metrics) == {
        f"{kind}.{band}"
        for kind in ("psi", "wasserstein")
        for band in ("VV_sigma0_dB", "VH_sigma0_dB")
    }
    report = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{REPORT_ARTIFACT}")
    assert report["verdict"] == "ok"
