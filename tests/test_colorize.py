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
from rio_cogeo.cogeo import cog_validate
from scipy.ndimage import gaussian_filter
from shapely.geometry import box
from torch import nn

from geocolor.cli import main
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.config import Config
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.grid import LONLAT, reproject_geometry
from geocolor.models.logged import LoadedModel
from geocolor.models.normalisation import Normalisation
from geocolor.s1.safe import open_safe
from tests.model_factory import log_tiny_model

UTM = CRS.from_epsg(32631)
TRANSFORM = Affine(10, 0, 500_000, 0, -10, 5_000_000)
BANDS = ("VV sigma0 dB", "VH sigma0 dB", "HH sigma0 dB")


class Identity(nn.Module):
    size_multiple = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Constant(nn.Module):
    size_multiple = 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full_like(x, 0.2)


def loaded(generator: nn.Module, receptive_field: int = 8) -> LoadedModel:
    """SAR dB in [-25, 5] maps onto reflectance [0, 0.3] band for band (B04, B03, B02)."""
    normalisation = Normalisation(
        BANDS, (-25.0,) * 3, (5.0,) * 3, ("B04", "B03", "B02"), (0.0,) * 3, (0.3,) * 3
    )
    return LoadedModel(
        uri="test:" + type(generator).__name__,
        backend="test",
        config=Config(),
        normalisation=normalisation,
        sar_processing=None,
        generator=generator,
        in_channels=3,
        out_channels=3,
        receptive_field=receptive_field,
        size_multiple=4,
        device=torch.device("cpu"),
        version=None,
    )


def write_scene(path: Path, data: np.ndarray, descriptions: tuple[str, ...] = BANDS) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype="float32",
        crs=UTM,
        transform=TRANSFORM,
        nodata=np.nan,
    ) as dst:
        dst.write(data.astype(np.float32))
        dst.descriptions = descriptions
    return path


def levels_scene(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """dB values that the identity model turns into exact 8-bit levels, with a hole."""
    levels = np.random.default_rng(1).integers(0, 256, size=(3, height, width))
    sar = (-25 + 30 * levels / 255).astype(np.float32)
    sar[:, 10:40, 20:70] = np.nan
    return sar, levels.astype(np.uint8)


def read_output(path: Path) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    with rasterio.open(path) as src:
        meta = {
            "crs": src.crs,
            "transform": src.transform,
            "bounds": tuple(src.bounds),
            "tags": src.tags(),
            "blocks": src.block_shapes[0],
            "overviews": src.overviews(1),
            "mask_flags": src.mask_flag_enums[0],
        }
        return src.read(), src.dataset_mask(), meta


def test_identity_model_reproduces_its_input_across_tile_boundaries(tmp_path: Path) -> None:
    sar, levels = levels_scene(301, 413)  # not multiples of the tile
    scene = write_scene(tmp_path / "scene.tif", sar)
    config = ColorizeConfig(tile_size=64, overlap=16, batch_size=3, panel_width=256)
    result = colorize(str(scene), loaded(Identity()), str(tmp_path / "out.tif"), config=config)
    rgb, mask, meta = read_output(tmp_path / "out.tif")
    valid = np.isfinite(sar).all(0)
    np.testing.assert_array_equal(rgb[:, valid], levels[:, valid])
    np.testing.assert_array_equal(mask > 0, valid)  # the hole stays masked
    assert meta["crs"] == UTM and meta["transform"] == TRANSFORM
    assert result.tiles > 20 and (result.width, result.height) == (413, 301)


def test_constant_model_gives_a_constant_image_edges_included(tmp_path: Path) -> None:
    sar, _ = levels_scene(150, 230)
    scene = write_scene(tmp_path / "scene.tif", sar)
    colorize(
        str(scene),
        loaded(Constant()),
        str(tmp_path / "out.tif"),
        config=ColorizeConfig(tile_size=64, overlap=12),
    )
    rgb, mask, _ = read_output(tmp_path / "out.tif")
    expected = round((0.2 + 1) / 2 * 255)
    assert np.all(rgb[:, mask > 0] == expected)


def test_output_is_a_valid_cog_with_mask_overviews_and_provenance(tmp_path: Path) -> None:
    sar, _ = levels_scene(700, 600)
    scene = write_scene(tmp_path / "scene.tif", sar)
    out = tmp_path / "out.tif"
    colorize(str(scene), loaded(Identity()), str(out), config=ColorizeConfig(tile_size=256))
    valid, errors, _ = cog_validate(str(out))
    assert valid, errors
    _, _, meta = read_output(out)
    assert meta["blocks"] == (512, 512) and meta["overviews"]
    assert rasterio.enums.MaskFlags.per_dataset in meta["mask_flags"]
    tags = meta["tags"]
    assert isinstance(tags, dict)
    assert tags["model_uri"] == "test:Identity" and tags["input"] == str(scene)
    assert json.loads(tags["parameters"])["tile_size"] == 256 and tags["geocolor_version"]


def test_output_bounds_are_the_aoi_intersected_with_the_scene(tmp_path: Path) -> None:
    sar, levels = levels_scene(200, 300)
    scene = write_scene(tmp_path / "scene.tif", sar)
    # pixel-aligned UTM box reaching past the scene's right edge (x 503 000)
    aoi = tmp_path / "aoi.geojson"
    ring = [[501_000, 4_998_500], [504_000, 4_998_500], [504_000, 4_999_500], [501_000, 4_999_500]]
    aoi.write_text(
        json.dumps(
            {
                "type": "Polygon",
                "coordinates": [[*ring, ring[0]]],
                "crs": {"type": "name", "properties": {"name": "EPSG:32631"}},
            }
        )
    )
    out = tmp_path / "out.tif"
    colorize(str(scene), loaded(Identity()), str(out), aoi=str(aoi))
    rgb, mask, meta = read_output(out)
    assert meta["bounds"] == pytest.approx((501_000, 4_998_500, 503_000, 4_999_500), abs=1e-6)
    # the AOI crosses no pixel centre of its bounds, so the cut equals the source window
    window = (slice(50, 150), slice(100, 300))
    valid = np.isfinite(sar[:, window[0], window[1]]).all(0)
    np.testing.assert_array_equal(rgb[:, valid], levels[:, window[0], window[1]][:, valid])
    assert (mask > 0).mean() > 0.95  # lon/lat reprojection of the AOI trims a sliver at most


def test_lonlat_bbox_aoi_and_regridding(tmp_path: Path) -> None:
    sar, _ = levels_scene(200, 300)
    scene = write_scene(tmp_path / "scene.tif", sar)
    inner = reproject_geometry(box(500_500, 4_998_400, 502_500, 4_999_600), UTM, LONLAT)
    bbox = ",".join(f"{v:.6f}" for v in inner.bounds)
    out = tmp_path / "out.tif"
    result = colorize(
        str(scene),
        loaded(Identity()),
        str(out),
        aoi=bbox,
        config=ColorizeConfig(crs="EPSG:3857", resolution=20.0),
    )
    _, mask, meta = read_output(out)
    assert meta["crs"] == CRS.from_epsg(3857) and result.transform.a == 20.0
    assert mask.any() and not mask.all()  # pixels outside the lon/lat box are masked


def test_aoi_outside_or_smaller_than_a_pixel_is_a_clear_error(tmp_path: Path) -> None:
    sar, _ = levels_scene(100, 100)
    scene = write_scene(tmp_path / "scene.tif", sar)
    model = loaded(Identity())
    with pytest.raises(UsageError, match="outside the scene"):
        colorize(str(scene), model, str(tmp_path / "a.tif"), aoi="10,10,10.1,10.1")
    # 2 m wide, between pixel centres
    centre = reproject_geometry(box(500_501, 4_999_501, 500_503, 4_999_503), UTM, LONLAT).bounds
    with pytest.raises(UsageError, match="too small"):
        colorize(str(scene), model, str(tmp_path / "b.tif"), aoi=",".join(map(str, centre)))
    assert not list(tmp_path.glob("[ab].tif*"))


def test_corrupt_model_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    sar, _ = levels_scene(64, 64)
    scene = write_scene(tmp_path / "scene.tif", sar[:2], BANDS[:2])
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "MLmodel").write_text("not: [a model")
    with pytest.raises(GeocolorError, match="cannot load the model"):
        colorize(str(scene), str(broken), str(tmp_path / "out.tif"))
    # a real logged model whose weights were cut short
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    folder = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "m"))
    )
    weights = next(folder.rglob("generator.pt"))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(GeocolorError, match="cannot load the model"):
        colorize(str(scene), str(folder), str(tmp_path / "out.tif"))
    assert not (tmp_path / "out.tif").exists()


def test_a_failed_run_leaves_nothing_behind(tmp_path: Path) -> None:
    class Failing(Identity):
        calls = 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            Failing.calls += 1
            if Failing.calls > 2:
                raise RuntimeError("out of memory")
            return x

    sar, _ = levels_scene(300, 300)
    scene = write_scene(tmp_path / "scene.tif", sar)
    with pytest.raises(RuntimeError):
        colorize(
            str(scene),
            loaded(Failing()),
            str(tmp_path / "out.tif"),
            config=ColorizeConfig(tile_size=64, batch_size=1),
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_bands_are_matched_by_polarisation_and_missing_ones_named(tmp_path: Path) -> None:
    sar, levels = levels_scene(80, 80)
    shuffled = write_scene(tmp_path / "s.tif", sar[::-1], tuple(reversed(BANDS)))
    colorize(str(shuffled), loaded(Identity()), str(tmp_path / "out.tif"))
    rgb, mask, _ = read_output(tmp_path / "out.tif")
    np.testing.assert_array_equal(rgb[:, mask > 0], levels[:, mask > 0])
    partial = write_scene(tmp_path / "p.tif", sar[:2], BANDS[:2])
    with pytest.raises(GeocolorError, match="no HH band"):
        colorize(str(partial), loaded(Identity()), str(tmp_path / "out2.tif"))


def _trained_like(tmp_path: Path) -> str:
    return log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", options={"ngf": 8, "n_blocks": 2})


def test_scene_consistent_norm_removes_tile_dependence(tmp_path: Path) -> None:
    """Per-tile statistics change a pixel's colour with the tiling; fixed ones do not."""
    rng = np.random.default_rng(0)
    field = gaussian_filter(rng.normal(size=(320, 320)), 8) * 30  # patches, like land cover
    sar = np.stack([4 * field - 12, 3 * field - 19]) + rng.normal(0, 1, (2, 320, 320))
    scene = write_scene(tmp_path / "scene.tif", sar.astype(np.float32), BANDS[:2])
    uri = _trained_like(tmp_path)

    def run(norm: str, tile: int) -> np.ndarray:
        out = tmp_path / f"{norm}-{tile}.tif"
        config = ColorizeConfig(tile_size=tile, norm=norm)  # type: ignore[arg-type]
        colorize(str(scene), uri, str(out), config=config)
        return read_output(out)[0].astype(float)

    def tiling_effect(norm: str) -> float:
        """Mean 8-bit change between 3 x 3 tiles of 128 px and one tile of the scene."""
        return float(np.abs(run(norm, 128) - run(norm, 320)).mean())

    per_tile = tiling_effect("tile")
    assert per_tile > 1.0
    for norm in ("frozen", "scene"):
        # what is left comes from the padding at tile edges, faded out by the ramps
        assert tiling_effect(norm) < per_tile / 4, norm


def test_cli_colorizes_a_safe_product_through_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    product = write_synthetic_s1(tmp_path / "s1", lines=500, samples=600, seed=2)
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    centre = open_safe(product).footprint().centroid
    aoi = f"{centre.x - 0.01},{centre.y - 0.01},{centre.x + 0.01},{centre.y + 0.01}"
    out = tmp_path / "colour.tif"
    code = main(["--quiet", "colorize", str(product), "--model", uri, "--aoi", aoi, "-o", str(out)])
    assert code == 0
    assert capsys.readouterr().out.strip() == str(out)
    rgb, mask, meta = read_output(out)
    crs = meta["crs"]
    assert isinstance(crs, CRS) and crs.to_epsg() in range(32601, 32761)
    assert mask.mean() > 0.5 and rgb[:, mask > 0].std() > 0
    tags = meta["tags"]
    assert isinstance(tags, dict)
    assert tags["model_version"] == "1" and tags["input_product"] == product.name.removesuffix(
        ".SAFE"
    )


def test_an_aoi_smaller_than_a_statistics_window_still_gets_scene_statistics(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(3)
    sar = np.stack([rng.normal(-12, 4, (120, 160)), rng.normal(-19, 3, (120, 160))])
    scene = write_scene(tmp_path / "scene.tif", sar.astype(np.float32), BANDS[:2])
    aoi = reproject_geometry(box(500_200, 4_998_900, 500_570, 4_999_200), UTM, LONLAT)
    out = tmp_path / "small.tif"
    result = colorize(str(scene), _trained_like(tmp_path), str(out), aoi=aoi)
    assert (result.width, result.height) == (37, 30)
    assert read_output(out)[1].mean() > 0.9


def test_every_model_uri_form_gives_the_same_colours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sar, _ = levels_scene(96, 128)
    scene = write_scene(tmp_path / "scene.tif", sar[:2], BANDS[:2])
    by_alias = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    version = mlflow.MlflowClient().get_model_version_by_alias("geocolor", "prod-candidate")
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri="models:/geocolor/1", dst_path=str(tmp_path / "local")
    )
    uris = [by_alias, "models:/geocolor/1", f"runs:/{version.run_id}/model", folder]
    outputs = []
    for index, uri in enumerate(uris):
        out = tmp_path / f"out{index}.tif"
        colorize(str(scene), uri, str(out))
        outputs.append(read_output(out)[0])
    for output in outputs[1:]:
        np.testing.assert_array_equal(output, outputs[0])


def test_a_safe_is_processed_on_an_existing_cluster_and_gives_the_local_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --scheduler the blocks come back to this process instead of local scratch."""
    from distributed import LocalCluster

    monkeypatch.chdir(tmp_path)
    product = write_synthetic_s1(tmp_path / "s1", lines=300, samples=400, seed=4)
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    local = tmp_path / "local.tif"
    colorize(str(product), uri, str(local))
    remote = tmp_path / "remote.tif"
    with LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None
    ) as cluster:
        colorize(str(product), uri, str(remote), scheduler=cluster.scheduler_address)
    local_rgb, local_mask, _ = read_output(local)
    remote_rgb, remote_mask, _ = read_output(remote)
    np.testing.assert_array_equal(remote_mask, local_mask)
    np.testing.assert_array_equal(remote_rgb, local_rgb)


def test_an_overlap_as_wide_as_the_tile_is_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene, out = str(tmp_path / "absent.SAFE"), str(tmp_path / "o.tif")
    sizes = ["--tile-size", "64", "--overlap", "64"]
    code = main(["colorize", scene, "--model", "m", "-o", out, *sizes])
    assert code == 2
    assert "overlap 64 must be smaller than tile_size" in capsys.readouterr().err
