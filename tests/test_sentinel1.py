from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window
from rio_cogeo.cogeo import cog_validate

from geocolor.cli import main
from geocolor.demo.s1 import true_sigma0, write_synthetic_s1
from geocolor.s1.backscatter import S1Config, backscatter, to_db
from geocolor.s1.radar_chain import RadarSteps, calibrate, radar_backscatter
from geocolor.s1.safe import RadarWindow, open_safe
from geocolor.s1.speckle import SpeckleParams, filter_speckle

LINES, SAMPLES = 700, 900


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(tmp_path_factory.mktemp("s1"), lines=LINES, samples=SAMPLES, seed=3)


@pytest.fixture(scope="module")
def esa_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same product as ESA lays it out: uncompressed, one line per strip."""
    return write_synthetic_s1(
        tmp_path_factory.mktemp("s1esa"), lines=LINES, samples=SAMPLES, seed=3, compress="none"
    )


def block_means(image: np.ndarray, block: int) -> np.ndarray:
    rows, cols = (s // block for s in image.shape)
    trimmed = image[: rows * block, : cols * block].reshape(rows, block, cols, block)
    return np.nanmean(trimmed, axis=(1, 3))


@pytest.mark.parametrize("pol", ["VV", "VH"])
def test_calibrate_and_denoise_recover_sigma0(product: Path, pol: str) -> None:
    config = S1Config(grid="radar", speckle="none", db=False, polarisations=(pol,), chunk=256)
    measured = backscatter(open_safe(product), config).image[0].compute()
    truth = true_sigma0(product, pol, Window(0, 0, SAMPLES, LINES))
    valid = np.isfinite(measured)
    assert valid.mean() > 0.95  # only the no-data border is NaN
    ratio = block_means(np.where(valid, measured, np.nan), 20) / block_means(
        np.where(valid, truth, np.nan), 20
    )
    ratio = ratio[np.isfinite(ratio)]
    # 400-pixel means of 4.4-look speckle scatter by about 2.4 %
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    assert np.percentile(np.abs(ratio - 1), 90) < 0.08

    raw = (
        backscatter(open_safe(product), config.model_copy(update={"denoise": False}))
        .image[0]
        .compute()
    )
    dark = truth < np.percentile(truth, 10)
    # noise power biases the darkest areas up unless removed
    assert np.nanmean(raw[dark & valid]) > 1.1 * np.nanmean(measured[dark & valid])


def test_chain_is_chunk_independent(product: Path) -> None:
    config = S1Config(grid="radar", speckle="refined-lee", chunk=256)
    small = backscatter(open_safe(product), config).image.compute()
    large = backscatter(open_safe(product), config.model_copy(update={"chunk": 1024})).image
    np.testing.assert_allclose(small, large.compute(), rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize("speckle", ["lee", "median", "none"])
@pytest.mark.parametrize("db", [True, False])
def test_fused_chain_equals_the_staged_one(esa_product: Path, speckle: str, db: bool) -> None:
    product = open_safe(esa_product)
    params = SpeckleParams(window=5, looks=4.4)
    window = RadarWindow(37, 600, 3, SAMPLES)  # reaches the no-data end of the lines
    origin = (window.line0, window.pixel0)
    steps = RadarSteps(product.calibration("VH"), "gamma0", product.noise("VH"), speckle, params)
    dn = product.read_dn("VH", chunks=(61, 300), window=window)
    fused = radar_backscatter(dn, steps, origin=origin, db=db).compute()

    power = calibrate(dn, steps.luts, "gamma0", noise=steps.noise, origin=origin)
    staged = filter_speckle(power.rechunk(-1), speckle, params)
    staged = to_db(staged) if db else staged
    np.testing.assert_array_equal(fused, staged.compute())
    assert np.isnan(fused).any() and np.isfinite(fused).mean() > 0.95


def test_chain_on_esa_strips_is_chunk_independent(esa_product: Path) -> None:
    config = S1Config(grid="radar", speckle="lee", chunk=16)
    small = backscatter(open_safe(esa_product), config).image
    assert len(small.chunks[1]) > 40  # one-line strips let chunks be any height
    whole = backscatter(open_safe(esa_product), config.model_copy(update={"chunk": LINES}))
    np.testing.assert_array_equal(small.compute(), whole.image.compute())


def test_process_s1_writes_cog(
    product: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.tif"
    assert main(["--quiet", "process-s1", str(product), "-o", str(out), "--speckle", "lee"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert cog_validate(str(out))[0]
    with rasterio.open(out) as src:
        assert src.count == 2 and src.dtypes == ("float32", "float32")
        assert src.descriptions == ("VV sigma0 dB", "VH sigma0 dB")
        assert src.crs.to_epsg() == 32632 and src.res == (10.0, 10.0)
        assert np.isnan(src.nodata)
        assert src.overviews(1)
        tags = src.tags()
        assert tags["input_product"] == product.name.removesuffix(".SAFE")
        data = src.read(1)
    assert -30 < np.nanmedian(data) < 0
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.filterwarnings("error::rasterio.errors.NotGeoreferencedWarning")
def test_process_s1_radar_grid_and_options(product: Path, tmp_path: Path) -> None:
    out = tmp_path / "radar.tif"
    args = ["--quiet", "process-s1", str(product), "-o", str(out), "--grid", "radar"]
    assert main([*args, "--pol", "VH", "--linear", "--measure", "gamma0", "--no-denoise"]) == 0
    with rasterio.open(out) as src:
        assert (src.height, src.width, src.count) == (LINES, SAMPLES, 1)
        assert src.descriptions == ("VH gamma0 linear",)
        gcps, crs = src.gcps
        assert len(gcps) == len(open_safe(product).geolocation_grid().line)
        assert crs.to_epsg() == 4326


def test_process_s1_onto_reference_grid(product: Path, tmp_path: Path) -> None:
    first = tmp_path / "utm.tif"
    assert main(["--quiet", "process-s1", str(product), "-o", str(first), "--speckle", "none"]) == 0
    with rasterio.open(first) as src:
        transform = src.transform @ Affine.scale(2) @ Affine.translation(10, 5)
        profile = {"driver": "GTiff", "width": 200, "height": 150, "count": 1, "dtype": "uint8"}
        crs = src.crs
    reference = tmp_path / "ref.tif"
    with rasterio.open(reference, "w", crs=crs, transform=transform, **profile) as dst:
        dst.write(np.zeros((1, 150, 200), np.uint8))
    out = tmp_path / "on_ref.tif"
    assert (
        main(["--quiet", "process-s1", str(product), "-o", str(out), "--grid", str(reference)]) == 0
    )
    with rasterio.open(out) as src:
        assert (src.crs, src.transform, src.width, src.height) == (crs, transform, 200, 150)


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["--pol", "HH"], "polarisation HH not in product", 1),
        (["--speckle", "wiener"], "unknown speckle filter 'wiener'", 2),
        (["--window", "4"], "window", 2),
        (["--crs", "EPSG:999999"], "not a coordinate reference system", 2),
    ],
)
def test_process_s1_bad_options(
    product: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
    code: int,
) -> None:
    out = tmp_path / "x.tif"
    assert main(["process-s1", str(product), "-o", str(out), *args]) == code
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_process_s1_not_a_safe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "S1A_fake.SAFE"
    bogus.mkdir()
    assert main(["process-s1", str(bogus), "-o", str(tmp_path / "x.tif")]) == 1
    err = capsys.readouterr().err
    assert str(bogus) in err and len(err.strip().splitlines()) == 1
