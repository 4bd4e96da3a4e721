"""prepare with ``dem:``, training on that store, and colorize of the raw product with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import rasterio
import yaml
from rasterio.crs import CRS

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.geo.grid import grid_covering
from geocolor.prepare.store import complete_pairs, open_store
from geocolor.s1.dem import ELLIPSOIDAL
from geocolor.s1.safe import open_safe
from tests.terrain_factory import UTM, ridge, write_dem

LAYOUT = SceneLayout(lines=300, samples=400)
TINY_CYCLEGAN = ["-O", "ngf=4", "-O", "n_blocks=1", "-O", "ndf=4", "-O", "pool_size=0"]


def test_prepare_train_and_colorize_a_safe_with_a_dem(
    tmp_path: Path, tracking: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s1 = write_synthetic_s1(tmp_path / "data", layout=LAYOUT, seed=3)
    s2 = write_synthetic_s2(tmp_path / "data", layout=LAYOUT, seed=3, cloud_fraction=0.05)
    footprint = open_safe(s1).footprint()
    # a 30 m DEM with a 600 m ridge, reaching a few pixels beyond the scene on every side
    dem_grid = grid_covering(footprint.buffer(0.005), CRS.from_string(UTM), 30.0)
    dem = write_dem(tmp_path / "dem.tif", dem_grid, ridge(dem_grid, 600.0))
    config = tmp_path / "prepare.yaml"
    config.write_text(yaml.safe_dump({"s1": {"dem": str(dem), "speckle": "none"}}))

    store = tmp_path / "pairs.zarr"
    tiles = ["--tile-size", "32", "--split-block", "2", "--min-valid", "0.9", "--max-cloud", "0.3"]
    prepare = ["--quiet", "prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store)]
    assert main([*prepare, "--config", str(config), *tiles]) == 0
    root = open_store(str(store), "r")
    (pair,) = complete_pairs(root)
    attrs: dict[str, Any] = dict(root[f"pairs/{pair}"].attrs)
    assert attrs["s1_terrain_correction"] == {
        "dem": str(dem),
        "dem_height_reference": ELLIPSOIDAL,
    }
    assert attrs["s1_provenance"]["orbit_source"] == "annotation"
    assert attrs["parameters"]["s1"]["dem"] == str(dem)

    train = ["--quiet", "train", str(store), "--epochs", "1", "--steps-per-epoch", "2"]
    train += ["--batch-size", "4", "--tile-size", "32", "--num-workers", "0", *TINY_CYCLEGAN]
    assert main(train) == 0

    # the model carries dem: the raw product goes through terrain correction with it
    out = tmp_path / "colour.tif"
    centre = footprint.centroid
    aoi = f"{centre.x - 0.01},{centre.y - 0.01},{centre.x + 0.01},{centre.y + 0.01}"
    colorize = ["--quiet", "colorize", str(s1), "--model", "models:/geocolor/1", "--aoi", aoi]
    capsys.readouterr()
    assert main([*colorize, "-o", str(out)]) == 0
    with rasterio.open(out) as src:
        assert src.count == 3 and (src.read_masks(1) > 0).mean() > 0.5

    # and needs it: without the DEM colorize stops with one line naming it
    dem.rename(tmp_path / "moved.tif")
    capsys.readouterr()
    assert main([*colorize, "-o", str(tmp_path / "refused.tif")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(dem) in err
    assert not (tmp_path / "refused.tif").exists()
