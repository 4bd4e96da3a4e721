"""Inference precision (fp32, bf16, int8, auto) and ``models export``."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import onnx
import onnxruntime
import pytest
import rasterio
import torch
from torch import nn

from geocolor.cli import main
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.errors import UsageError
from geocolor.models.export import SPEC_KEY, export_model
from geocolor.models.layers import (
    LIVE_MODES,
    gather_scene_statistics,
    norm_layers,
    set_norm_mode,
)
from geocolor.models.logged import LoadedModel, load_model
from geocolor.models.mixed_precision import FP32_CONVOLUTIONS, fold_norms, mixed_bf16
from geocolor.models.precision import bf16_supported, choose, psnr
from tests.model_factory import NORMALISATION, log_tiny_model

SIDE = 96
#: A colorization's colours and tags.
Result = tuple[np.ndarray, dict[str, str]]
#: An output and its seconds.
Timed = tuple[torch.Tensor, float]


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def model_uri(tracking: str) -> str:
    return log_tiny_model(tracking)


@pytest.fixture(scope="module")
def model(model_uri: str) -> LoadedModel:
    return load_model(model_uri)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smooth VV/VH sigma0 dB raster with some texture."""
    y, x = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    vv = -12 + 4 * np.sin(x / 9) * np.cos(y / 13) + 2 * np.sin((x + y) / 5)
    data = np.stack([vv, vv - 7 + np.cos(x / 7)]).astype(np.float32)
    path = tmp_path_factory.mktemp("scene") / "scene.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=SIDE,
        height=SIDE,
        count=2,
        dtype="float32",
        crs="EPSG:32631",
        transform=rasterio.Affine(10, 0, 500_000, 0, -10, 5_000_000),
        nodata=np.nan,
    ) as dst:
        dst.write(data)
        dst.descriptions = NORMALISATION.sar_bands
    return path


def run(model: LoadedModel, scene: Path, out: Path, **options: object) -> Result:
    config = ColorizeConfig(tile_size=64, monitor=False, **options)  # type: ignore[arg-type]
    result = colorize(str(scene), model, str(out), config=config)
    with rasterio.open(out) as src:
        return src.read().astype(int), result.tags


@pytest.fixture(scope="module")
def fp32(model: LoadedModel, scene: Path, tmp_path_factory: pytest.TempPathFactory) -> Result:
    return run(model, scene, tmp_path_factory.mktemp("fp32") / "fp32.tif")


@pytest.mark.parametrize("mode", ["bf16", "int8"])
def test_each_precision_colorizes_close_to_fp32_and_is_recorded(
    model: LoadedModel,
    scene: Path,
    tmp_path: Path,
    mode: str,
    fp32: Result,
) -> None:
    if mode == "bf16" and not bf16_supported(torch.device("cpu")):
        pytest.skip("this CPU has no fast bfloat16 kernels")
    plain, plain_tags = fp32
    reduced, tags = run(model, scene, tmp_path / f"{mode}.tif", precision=mode)
    assert plain_tags["precision"] == "fp32" and plain_tags["precision_psnr_db"] == ""
    assert tags["precision"] == mode
    assert tags["precision_psnr_db"].startswith(f"{mode}=")
    assert json.loads(tags["parameters"])["precision"] == mode
    # close to fp32 but computed differently
    assert np.abs(reduced - plain).mean() < 4
    assert not np.array_equal(reduced, plain)
    with rasterio.open(tmp_path / f"{mode}.tif") as src:
        assert src.tags()["precision"] == mode


def test_auto_falls_back_to_fp32_when_no_mode_is_within_tolerance(
    model: LoadedModel, scene: Path, tmp_path: Path, fp32: Result
) -> None:
    plain = fp32[0]
    chosen, tags = run(
        model, scene, tmp_path / "auto.tif", precision="auto", min_psnr_bf16=500, min_psnr_int8=500
    )
    assert tags["precision"] == "fp32"
    assert np.array_equal(chosen, plain)
    tried = dict(item.split("=") for item in tags["precision_psnr_db"].split(",") if item)
    assert set(tried) <= {"bf16", "int8"}
    for mode, value in tried.items():
        assert float(value) < 500
        assert f"{mode} PSNR" in tags["precision_note"]
    if not tried:
        assert "no reduced precision" in tags["precision_note"]


def test_torchscript_and_onnx_exports_match_the_model_and_carry_the_normalisation(
    model_uri: str,
    model: LoadedModel,
    tracking: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mlflow.set_tracking_uri(tracking)  # colorize tests before this one may have moved it
    window = torch.rand(1, 2, 40, 56) * 2 - 1
    generator = model.generator
    set_norm_mode(generator, "frozen")
    with torch.no_grad():
        expected = generator(window).numpy()
    for fmt in ("torchscript", "onnx"):
        out = tmp_path / f"generator.{fmt}"
        code = main(["models", "export", model_uri, "--format", fmt, "-o", str(out)])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert "max abs difference" in captured.out
        if fmt == "onnx":
            props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
            session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
            got = session.run(None, {session.get_inputs()[0].name: window.numpy()})[0]
        else:
            extra = {SPEC_KEY: ""}
            module = torch.jit.load(str(out), _extra_files=extra)
            props = {SPEC_KEY: extra[SPEC_KEY]}
            with torch.no_grad():
                got = module(window).numpy()
        spec = json.loads(props[SPEC_KEY])
        assert spec["normalisation"] == NORMALISATION.to_dict()
        assert spec["norm"] == "frozen" and spec["model_uri"] == model_uri
        np.testing.assert_allclose(got, expected, atol=1e-4)


def test_an_export_beyond_tolerance_is_refused_and_leaves_nothing(
    model: LoadedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geocolor.models.export.TOLERANCE", -1.0)
    out = tmp_path / "generator.torchscript"
    with pytest.raises(Exception, match="differs from the model"):
        export_model(model, "torchscript", out)
    assert list(tmp_path.iterdir()) == []


def test_bf16_is_refused_in_one_line_where_the_device_lacks_it(
    model: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geocolor.models.precision.bf16_supported", lambda device: False)
    calibration = torch.zeros(1, 2, 32, 32)
    with pytest.raises(UsageError, match="no fast bfloat16 kernels"):
        choose("bf16", model.generator, torch.device("cpu"), calibration)
    # auto does not try it, and says why it kept fp32 when nothing else is on offer
    monkeypatch.setattr("geocolor.models.precision.available", lambda: False)
    chosen = choose("auto", model.generator, torch.device("cpu"), calibration)
    assert chosen.mode == "fp32" and chosen.psnr == {}
    assert chosen.note == "no reduced precision available on this device"


@pytest.fixture
def scene_generator(model: LoadedModel) -> tuple[nn.Module, torch.Tensor]:
    """A copy of the tiny generator with scene statistics, and the windows they came from."""
    generator = copy.deepcopy(model.generator).eval()
    torch.manual_seed(0)
    window = torch.rand(2, 2, 32, 32) * 2 - 1
    gather_scene_statistics(generator, [window])
    return generator, window


def test_folding_fixed_norm_statistics_into_the_convolutions_changes_nothing(
    scene_generator: tuple[nn.Module, torch.Tensor],
) -> None:
    generator, window = scene_generator
    folded = copy.deepcopy(generator)
    fold_norms(folded)
    assert norm_layers(folded) == []
    with torch.no_grad():
        torch.testing.assert_close(folded(window), generator(window), atol=1e-5, rtol=0)
    # per-tile and per-batch statistics depend on the input: nothing to fold
    norms = norm_layers(generator)
    for mode in LIVE_MODES:
        set_norm_mode(generator, mode)
        fold_norms(generator)
        assert norm_layers(generator) == norms


def test_mixed_bf16_keeps_the_encoder_fp32_and_agrees_better_than_autocast(
    scene_generator: tuple[nn.Module, torch.Tensor],
) -> None:
    generator, window = scene_generator
    mixed = mixed_bf16(generator)
    dtypes = [m.weight.dtype for m in mixed.modules() if isinstance(m, nn.Conv2d)]
    assert dtypes[:FP32_CONVOLUTIONS] == [torch.float32] * FP32_CONVOLUTIONS
    assert set(dtypes[FP32_CONVOLUTIONS:]) == {torch.bfloat16}
    assert {p.dtype for p in generator.parameters()} == {torch.float32}  # the caller's
    with torch.no_grad():
        reference = generator(window)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            autocast = generator(window).float()
        output = mixed(window.contiguous(memory_format=torch.channels_last)).float()
    assert output.shape == reference.shape and not torch.equal(output, reference)
    assert psnr(reference, output) > psnr(reference, autocast)


def test_auto_picks_the_mixed_bf16_within_the_default_tolerance(
    scene_generator: tuple[nn.Module, torch.Tensor], monkeypatch: pytest.MonkeyPatch
) -> None:
    cpu = torch.device("cpu")
    if not bf16_supported(cpu):
        pytest.skip("this CPU has no fast bfloat16 kernels")
    generator, window = scene_generator
    monkeypatch.setattr("geocolor.models.precision.available", lambda: False)  # bf16 only

    def timed(forward: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor) -> Timed:
        # a shared machine's timings are noise at this size: fp32 is made the slower
        return forward(batch), 2.0 if forward is generator else 1.0

    monkeypatch.setattr("geocolor.models.precision._timed", timed)
    chosen = choose("auto", generator, cpu, window)
    assert chosen.mode == "bf16" and chosen.note == ""
    assert chosen.psnr["bf16"] >= 40
    with torch.no_grad():
        again = psnr(generator(window), chosen.forward(window))
    assert again == pytest.approx(chosen.psnr["bf16"], abs=0.1)
    assert chosen.tags()["precision_psnr_db"] == f"bf16={chosen.psnr['bf16']:.1f}"
