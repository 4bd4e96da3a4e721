from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import zarr

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import GeocolorError
from geocolor.io.filesystems import grid_of_raster
from geocolor.prepare.store import complete_pairs, open_store
from geocolor.s1 import raster as s1_raster
from geocolor.s1.backscatter import S1Config
from geocolor.s1.raster import open_backscatter_raster
from geocolor.s1.safe_source import SafeSource
from geocolor.s1.source import open_s1

LAYOUT = SceneLayout(lines=600, samples=800)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A SAFE, the same product processed to a dB GeoTIFF, and a Sentinel-2 product."""
    folder = tmp_path_factory.mktemp("scenes")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=1)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1)
    raster = folder / "s1_sigma0_db.tif"
    assert main(["--quiet", "process-s1", str(s1), "-o", str(raster)]) == 0
    return s1, raster, s2


def s1_layer(store: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """The pair's S1 array and the map position of its top-left corner."""
    root = open_store(str(store), "r")
    (pair,) = complete_pairs(root)
    group = root[f"pairs/{pair}"]
    array = group["s1"]
    assert isinstance(array, zarr.Array) and isinstance(group, zarr.Group)
    transform = group.attrs["transform"]
    assert isinstance(transform, list)
    return np.asarray(array[:]), (float(transform[2]), float(transform[5]))


def common_part(first: np.ndarray, second: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """``second`` cut to ``first``'s pixels, ``second`` starting ``shift`` pixels later."""
    rows, cols = shift
    out = np.full_like(first, np.nan)
    part = second[:, max(-rows, 0) :, max(-cols, 0) :]
    target = out[:, max(rows, 0) :, max(cols, 0) :]
    h, w = min(part.shape[1], target.shape[1]), min(part.shape[2], target.shape[2])
    target[:, :h, :w] = part[:, :h, :w]
    return out


def test_a_processed_raster_is_paired_and_prepared_like_its_safe(
    scenes: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    safe, raster, s2 = scenes
    for name, s1 in (("safe", safe), ("raster", raster)):
        code = main(
            [
                "--quiet",
                "prepare",
                "--s1",
                str(s1),
                "--s2",
                str(s2),
                "-o",
                str(tmp_path / name),
                *TILE,
            ]
        )
        assert code == 0
    (from_safe, (x0, y0)), (raster_s1, (x1, y1)) = (
        s1_layer(tmp_path / "safe"),
        s1_layer(tmp_path / "raster"),
    )
    # both on the Sentinel-2 grid, cut to slightly different footprints
    from_raster = common_part(from_safe, raster_s1, (round((y0 - y1) / 10), round((x1 - x0) / 10)))
    # process-s1 snapped its UTM grid to 10 m as the Sentinel-2 grid is: the second warp
    # is pixel-aligned, so the store holds the very values the SAFE gave
    assert np.isfinite(from_safe).mean() > 0.6
    np.testing.assert_array_equal(np.isfinite(from_raster), np.isfinite(from_safe))
    np.testing.assert_allclose(from_raster, from_safe, rtol=0, atol=1e-4)
    root = open_store(str(tmp_path / "raster"), "r")
    (pair,) = complete_pairs(root)
    assert root[f"pairs/{pair}"].attrs["s1_bands"] == ["VV sigma0 dB", "VH sigma0 dB"]
    # both record what the data went through: the raster's filtering is its own (its
    # processing tag), the baseline 04.00 product's offset the S2 side's
    for name in ("safe", "raster"):
        root = open_store(str(tmp_path / name), "r")
        (pair,) = complete_pairs(root)
        parameters = root[f"pairs/{pair}"].attrs["parameters"]
        assert isinstance(parameters, dict)
        assert parameters["s2"] == {"level": "L2A", "scale": 1e-4, "offset": -0.1}
        s1 = parameters["s1"]
        assert (s1["measure"], s1["db"], s1["denoise"], s1["speckle"], s1["window"]) == (
            "sigma0",
            True,
            True,
            "lee",
            7,
        )


def test_products_are_told_apart_by_name_and_dated_from_their_tags(
    scenes: tuple[Path, Path, Path],
) -> None:
    safe, raster, _ = scenes
    assert isinstance(open_s1(str(safe)), SafeSource)
    product = open_s1(str(raster))
    assert not isinstance(product, SafeSource)
    reference = open_s1(str(safe))
    assert product.info.start_time == reference.info.start_time
    assert product.info.product_id == reference.info.product_id


def test_fetched_rasters_are_dated_from_their_tags(
    tmp_path: Path, scenes: tuple[Path, Path, Path]
) -> None:
    _, raster, _ = scenes
    fetched = tmp_path / "S1_20221004T165000.tif"
    with rasterio.open(raster) as src:
        profile, data, descriptions = src.profile, src.read(), src.descriptions
    with rasterio.open(fetched, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = descriptions
        dst.update_tags(
            input_products="S1A_IW_GRDH_1SDV_20221004T164950_X,S1A_IW_GRDH_1SDV_20221004T165015_Y",
            acquisition_times="2022-10-04T16:49:50+00:00,2022-10-04T16:50:15+00:00",
        )
    product = open_backscatter_raster(str(fetched))
    assert product.info.start_time.isoformat() == "2022-10-04T16:49:50+00:00"
    assert product.info.product_id == "S1A_IW_GRDH_1SDV_20221004T164950_X"


def test_the_warp_does_not_depend_on_the_chunking(
    scenes: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, raster, _ = scenes
    product = open_backscatter_raster(str(raster))
    grid = grid_of_raster(str(raster))
    whole = product.on_grid(S1Config(), grid).image.compute()
    monkeypatch.setattr(s1_raster, "WARP_CHUNK", 96)
    chunked = product.on_grid(S1Config(), grid).image
    assert len(chunked.chunks[1]) > 1
    np.testing.assert_array_equal(chunked.compute(), whole)
    linear = product.on_grid(S1Config(db=False), grid).image.compute()
    np.testing.assert_allclose(10 * np.log10(linear), whole, atol=1e-4)
    with rasterio.open(raster) as src:
        np.testing.assert_array_equal(whole, src.read(masked=True).filled(np.nan))


def test_bad_rasters_are_clear_errors(tmp_path: Path, scenes: tuple[Path, Path, Path]) -> None:
    _, raster, _ = scenes
    with rasterio.open(raster) as src:
        profile, data = src.profile, src.read()
    undated = tmp_path / "backscatter.tif"
    with rasterio.open(undated, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("VV gamma0 dB", "VH gamma0 dB")
    with pytest.raises(GeocolorError, match="no acquisition time"):
        _ = open_backscatter_raster(str(undated)).info.start_time
    named = tmp_path / "S1_20221004T165000_gamma.tif"
    undated.rename(named)
    product = open_backscatter_raster(str(named))
    with pytest.raises(GeocolorError, match="holds gamma0, not sigma0"):
        product.on_grid(S1Config(), grid_of_raster(str(named)))
    with pytest.raises(GeocolorError, match="no HH band"):
        product.on_grid(
            S1Config(measure="gamma0", polarisations=("HH",)), grid_of_raster(str(named))
        )


def test_a_hyphenated_measure_is_one_word_of_the_description() -> None:
    rtc = ("VH gamma0-rtc linear", "VV gamma0-rtc dB")
    config = S1Config(measure="gamma0-rtc", polarisations=("VV", "VH"))
    assert s1_raster.match_bands(rtc, config, "x.tif") == [(2, rtc[1]), (1, rtc[0])]
    with pytest.raises(GeocolorError, match=r"x\.tif: band 1 holds gamma0-rtc, not gamma0$"):
        s1_raster.match_bands(rtc, S1Config(measure="gamma0"), "x.tif")
