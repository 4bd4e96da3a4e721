"""GRD border-noise removal on synthetic products with the low-DN edges of IPF < 2.90."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geocolor.cli import main
from geocolor.colorize.readers import scene_processing
from geocolor.demo.s1 import SyntheticS1Scene, write_synthetic_s1
from geocolor.errors import GeocolorError
from geocolor.s1.backscatter import S1Config, backscatter
from geocolor.s1.border_noise import DN_THRESHOLD, ipf_number, remove_border_noise
from geocolor.s1.raster import open_backscatter_raster
from geocolor.s1.safe import RadarWindow, open_safe
from geocolor.s1.safe_source import SafeSource

LINES, SAMPLES = 300, 240
RADAR = {"grid": "radar", "speckle": "none", "db": False, "chunk": 64}


@pytest.fixture(scope="module")
def old_product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("old")
    return write_synthetic_s1(
        folder, lines=LINES, samples=SAMPLES, ipf_version="002.72", border_noise=True
    )


def radar_image(product: Path, **options: object) -> tuple[np.ndarray, dict[str, str]]:
    result = backscatter(open_safe(product), S1Config.model_validate({**RADAR, **options}))
    return result.image.compute(), result.tags


def test_generator_writes_low_dn_strips_inside_the_no_data_border(old_product: Path) -> None:
    scene = SyntheticS1Scene.from_product(old_product)
    assert scene.ipf_version == "002.72" and scene.border_noise
    window = Window(0, 0, SAMPLES, LINES)
    noisy, valid = scene.noisy_border(window), scene.valid_mask(window)
    measurement = next((old_product / "measurement").glob("*-vv-*.tiff"))
    with rasterio.open(measurement) as src:
        dn = src.read(1)
    assert noisy[0][valid[0]].all() and noisy[-1][valid[-1]].all()
    assert (dn[noisy] >= 1).all() and (dn[noisy] <= DN_THRESHOLD).all()
    assert (dn[~valid] == 0).all()
    interior = valid & ~noisy
    # the first sample inside each strip is real signal, above the threshold
    assert (dn[interior] > DN_THRESHOLD).mean() > 0.99


def test_border_noise_becomes_nan_and_the_interior_is_unchanged(old_product: Path) -> None:
    removed, tags = radar_image(old_product)
    kept, kept_tags = radar_image(old_product, border_noise=False)
    scene = SyntheticS1Scene.from_product(old_product)
    window = Window(0, 0, SAMPLES, LINES)
    noisy, valid = scene.noisy_border(window), scene.valid_mask(window)
    assert noisy.sum() > 0.1 * noisy.size
    for pol in range(2):
        assert np.isnan(removed[pol][noisy]).all()
        assert np.isfinite(kept[pol][noisy]).all()
        np.testing.assert_array_equal(removed[pol][valid & ~noisy], kept[pol][valid & ~noisy])
        assert (
            np.isnan(removed[pol][valid & ~noisy]).sum()
            == np.isnan(kept[pol][valid & ~noisy]).sum()
        )
    assert tags["border_noise"] == "removed (IPF 002.72 < 2.90)"
    assert kept_tags["border_noise"] == "off"


def test_a_window_inside_the_image_masks_as_the_whole_image(old_product: Path) -> None:
    product = open_safe(old_product)
    whole = product.read_dn("VV", chunks=(64, SAMPLES))
    full = remove_border_noise(product, "VV", whole, RadarWindow(0, LINES, 0, SAMPLES)).compute()
    for window in (RadarWindow(5, 290, 3, 200), RadarWindow(100, 200, 30, 210)):
        dn = product.read_dn("VV", chunks=(40, 80), window=window)
        part = remove_border_noise(product, "VV", dn, window).compute()
        expected = full[window.line0 : window.line1, window.pixel0 : window.pixel1]
        np.testing.assert_array_equal(part, expected)


def test_products_from_ipf_2_90_on_are_left_alone(tmp_path: Path) -> None:
    # the strips are written, but an IPF 3 product is trusted to have zeroed its border
    product = write_synthetic_s1(
        tmp_path, lines=LINES, samples=SAMPLES, polarisations=("VV",), border_noise=True
    )
    on, tags = radar_image(product)
    off, _ = radar_image(product, border_noise=False)
    np.testing.assert_array_equal(on, off)
    assert tags["border_noise"] == "not needed (IPF 003.31 >= 2.90)"


def test_default_generator_output_does_not_change_with_the_new_options(tmp_path: Path) -> None:
    default = write_synthetic_s1(tmp_path / "a", lines=64, samples=96, polarisations=("VV",))
    explicit = write_synthetic_s1(
        tmp_path / "b",
        lines=64,
        samples=96,
        polarisations=("VV",),
        ipf_version="003.31",
        border_noise=False,
    )
    assert default.name == explicit.name
    for path in sorted(default.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (explicit / path.relative_to(default)).read_bytes()


def test_process_s1_border_noise_flag_and_tags(old_product: Path, tmp_path: Path) -> None:
    base = ["--quiet", "process-s1", str(old_product), "--grid", "radar", "--speckle", "none"]
    on, off = tmp_path / "on.tif", tmp_path / "off.tif"
    assert main([*base, "-o", str(on), "--pol", "VV"]) == 0
    assert main([*base, "-o", str(off), "--pol", "VV", "--no-border-noise"]) == 0
    with rasterio.open(on) as src:
        on_data, on_tags = src.read(1), src.tags()
    with rasterio.open(off) as src:
        off_data, off_tags = src.read(1), src.tags()
    assert on_tags["border_noise"] == "removed (IPF 002.72 < 2.90)"
    assert off_tags["border_noise"] == "off"
    assert on_tags["orbit_source"] == off_tags["orbit_source"] == "annotation"
    assert '"border_noise": false' in off_tags["processing"]
    assert np.isnan(on_data).sum() > np.isnan(off_data).sum()
    # a processed raster passes its provenance on (prepare records it with the pair)
    mapped = tmp_path / "utm.tif"
    assert main(["--quiet", "process-s1", str(old_product), "-o", str(mapped), "--pol", "VV"]) == 0
    raster = open_backscatter_raster(str(mapped))
    grid = raster.native_grid()
    tags = raster.on_grid(S1Config(polarisations=("VV",)), grid).tags
    assert tags["border_noise"] == on_tags["border_noise"]
    assert tags["orbit_source"] == "annotation"


def test_an_unreadable_ipf_version_is_an_error() -> None:
    assert ipf_number("002.72", "x") == pytest.approx(2.72)
    with pytest.raises(GeocolorError, match="IPF version 'v2' is not a number"):
        ipf_number("v2", "x")


def test_colorize_repeats_the_models_border_noise_setting(old_product: Path) -> None:
    source = SafeSource(open_safe(old_product))
    bands = ["VV sigma0 dB", "VH sigma0 dB"]
    trained_without = scene_processing(source, None, bands, {"border_noise": False})
    assert trained_without is not None and trained_without["border_noise"] is False
    # a model recorded before the key existed gets today's default
    older = scene_processing(source, None, bands, {"denoise": True})
    assert older is not None and older["border_noise"] is True
