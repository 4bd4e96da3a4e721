"""Scores are of the network ``colorize`` runs: same norm mode, same scene statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine
from rasterio.crs import CRS

from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.models.layers import norm_layers
from geocolor.models.logged import LoadedModel
from geocolor.plugins.manager import load_plugins
from geocolor.prepare.store import PAIRS, group_array, open_store
from geocolor.prepare.tiling import Split
from geocolor.train.baselines import baseline_scores, fit_baselines
from geocolor.train.dataset import read_sample
from geocolor.train.metrics import psnr
from geocolor.train.normalisation_fit import fit_normalisation
from geocolor.train.scoring import GeneratorPredictor, pair_reader, score_generator
from geocolor.train.store_data import StoreData
from tests.test_dataset import OPTICAL_FROM_SAR, OPTICAL_OFFSET, write_synthetic_store

PAIR = "S1A_X__S2A_Y"
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_synthetic_store(tmp_path_factory.mktemp("scoring") / "store.zarr")


def tiny_cyclegan(store: str) -> LoadedModel:
    """An untrained small CycleGAN generator: its norm layers make scene and tile differ."""
    backend = load_plugins(autoload=False).backends.get("cyclegan")
    config = backend.config_type.model_validate({"ngf": 8, "n_blocks": 1})
    torch.manual_seed(0)
    generator = backend.build_generator(2, 3, config).eval()
    data = StoreData.open(store)
    normalisation = fit_normalisation(open_store(store, "r"), data.tiles, (1.0, 99.0), 64, 0)
    return LoadedModel(
        uri="test:cyclegan",
        backend="cyclegan",
        config=config,
        normalisation=normalisation,
        sar_processing=None,
        generator=generator,
        in_channels=2,
        out_channels=3,
        receptive_field=int(backend.receptive_field(config)),
        size_multiple=int(generator.size_multiple),
        device=CPU,
        version=None,
    )


def pair_as_scene(store: str, path: Path) -> Path:
    """The pair's SAR written as a (VV, VH) dB GeoTIFF on its own grid."""
    sar = np.asarray(group_array(open_store(store, "r"), f"{PAIRS}/{PAIR}/s1")[:])
    profile = {
        "driver": "GTiff",
        "width": sar.shape[2],
        "height": sar.shape[1],
        "count": 2,
        "dtype": "float32",
        "crs": CRS.from_epsg(32631),
        "transform": Affine(10, 0, 500_000, 0, -10, 5_000_000),
        "nodata": float("nan"),
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(sar.astype(np.float32))
        dst.descriptions = ("VV sigma0 dB", "VH sigma0 dB")
    return path


def test_validation_scores_what_colorize_produces(store: str, tmp_path: Path) -> None:
    """Colorize the pair's scene; its pixels on the val tiles are validation's predictions."""
    model = tiny_cyclegan(store)
    data = StoreData.open(store)
    val = data.split(Split.VAL)
    tile = data.layout.tile_size
    model.generator.train()  # as validation finds it mid-training, in the training mode
    scores = score_generator(
        model.generator, model.normalisation, CPU, store, val, tile, tile_norm_too=True
    )
    assert model.generator.training
    assert {layer.mode for layer in norm_layers(model.generator)} == {"batch"}

    out = tmp_path / "colour.tif"
    config = ColorizeConfig(tile_size=tile, overlap=0, max_reflectance=1.0, monitor=False)
    colorize(str(pair_as_scene(store, tmp_path / "scene.tif")), model, str(out), config=config)
    with rasterio.open(out) as src:
        colour = src.read()[::-1] / 255.0  # RGB is B04, B03, B02: the store's order reversed

    root = open_store(store, "r")
    predictor = GeneratorPredictor(model.generator, model.normalisation, CPU, "scene")
    predictor.start_scene(*pair_reader(root, PAIR))
    per_tile = GeneratorPredictor(model.generator, model.normalisation, CPU, "tile")
    from_colorize, predicted, tile_normed, targets, valids = [], [], [], [], []
    for row, col in zip(val.row, val.col, strict=True):
        sar, optical, valid = read_sample(root, PAIR, int(row), int(col), tile)
        with torch.no_grad():
            predicted.append(predictor(torch.from_numpy(sar[None]))[0])
            tile_normed.append(per_tile(torch.from_numpy(sar[None]))[0])
        from_colorize.append(torch.from_numpy(colour[:, row : row + tile, col : col + tile]))
        targets.append(torch.from_numpy(np.nan_to_num(optical)))
        valids.append(torch.from_numpy(valid[None].astype(np.float32)))
    ours, theirs = torch.stack(predicted), torch.stack(from_colorize).float()
    valid, target = torch.stack(valids), torch.stack(targets)
    # the same network: colorize's pixels are validation's, to 8-bit rounding
    difference = ((ours.clamp(0, 1) - theirs).abs() * valid).max().item()
    assert difference <= 0.5 / 255 + 1e-5
    colorized_psnr = psnr(theirs * valid, target * valid, valid, 1.0).mean().item()
    assert scores["psnr"] == pytest.approx(colorized_psnr, abs=0.05)
    # per-tile statistics are another network, scored beside under its own name
    other = ((torch.stack(tile_normed).clamp(0, 1) - theirs).abs() * valid).max().item()
    assert other > 10 / 255
    assert scores["tilenorm_psnr"] != pytest.approx(scores["psnr"], abs=0.1)


def test_baselines_fit_the_affine_store_exactly(store: str) -> None:
    """The store's reflectance is an affine function of the SAR: the linear fit recovers it."""
    data = StoreData.open(store)
    fitted = fit_baselines(store, data.split(Split.TRAIN), data.layout.tile_size)
    coefficients = fitted["linear"].coefficients.numpy()  # type: ignore[attr-defined]
    np.testing.assert_allclose(coefficients[0], OPTICAL_OFFSET, atol=1e-4)
    np.testing.assert_allclose(coefficients[1:].T, OPTICAL_FROM_SAR, atol=1e-5)
    scores = baseline_scores(data, data.split(Split.VAL))
    assert scores["baseline_linear_psnr"] > 60
    assert scores["baseline_linear_sam"] < 0.1
    assert scores["baseline_mean_psnr"] < scores["baseline_linear_psnr"] - 20
    assert scores["baseline_mean_hf_ratio"] == 0.0  # one colour has no texture
