"""``open_s1`` and the reader plugins: a third-party reader colorizes as the built-in ones do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from geocolor.colorize.pipeline import colorize
from geocolor.errors import GeocolorError
from geocolor.plugins.manager import get_plugins
from geocolor.s1.source import open_s1
from tests.model_factory import log_tiny_model
from tests.plugin_dist import install_plugin

pytestmark = pytest.mark.usefixtures("fresh_plugins")

# a scene format of its own: a JSON file naming its grid; its backscatter is a dB ramp
FAKE_READER = """
    import json
    from dataclasses import dataclass
    from datetime import datetime, timezone

    import dask.array as da
    import numpy as np
    from affine import Affine
    from rasterio.crs import CRS

    from geocolor.geo.grid import Georeference, Grid
    from geocolor.plugins.hookspecs import hookimpl
    from geocolor.s1.backscatter import Backscatter


    @dataclass(frozen=True)
    class Info:
        product_id: str
        start_time: datetime


    @dataclass(frozen=True)
    class FakeScene:
        info: Info
        grid: Grid

        def footprint(self):
            return self.grid.footprint_lonlat()

        def native_grid(self):
            return self.grid

        def on_grid(self, config, grid, hold=None):
            rows = np.arange(grid.height, dtype=np.float32)[:, None]
            cols = np.arange(grid.width, dtype=np.float32)[None, :]
            ramp = -20.0 + 10.0 * (rows + cols) / (grid.height + grid.width)
            pols = config.polarisations
            image = da.from_array(np.stack([ramp - 5.0 * i for i in range(len(pols))]))
            return Backscatter(
                image.astype(np.float32),
                Georeference(grid.crs, grid.transform),
                grid,
                pols,
                tuple(f"{pol} {config.measure} dB" for pol in pols),
                {},
            )


    class FakeReader:
        name = "fake-scene"

        def can_open(self, path):
            return path.endswith(".fake")

        def open(self, path):
            with open(path) as handle:
                spec = json.load(handle)
            grid = Grid(
                CRS.from_epsg(spec["epsg"]), Affine(*spec["transform"]), *spec["size"]
            )
            when = datetime(2024, 5, 1, tzinfo=timezone.utc)
            return FakeScene(Info(spec["product_id"], when), grid)


    @hookimpl
    def geocolor_register_readers(registry):
        registry.register(FakeReader.name, FakeReader())
"""
GRID_CRS = CRS.from_epsg(32633)
GRID_TRANSFORM = Affine(20.0, 0.0, 400_000.0, 0.0, -20.0, 5_200_000.0)


@pytest.fixture
def fake_reader(plugin_site: Path) -> None:
    install_plugin(plugin_site, "geocolor-fakescene", "geocolor_fakescene", FAKE_READER)


def test_a_third_party_reader_is_chosen_by_can_open_and_colorized_through(
    tmp_path: Path, fake_reader: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    scene = tmp_path / "scene.fake"
    spec = {
        "epsg": 32633,
        "transform": list(GRID_TRANSFORM)[:6],
        "size": [90, 70],
        "product_id": "FAKE_20240501",
    }
    scene.write_text(json.dumps(spec))
    readers = get_plugins().readers
    assert [entry.name for entry in readers.in_registration_order()] == [
        "grd-safe",
        "backscatter-raster",
        "band-files",
        "stac-item",
        "fake-scene",
    ]
    assert open_s1(str(scene)).info.product_id == "FAKE_20240501"

    out = tmp_path / "colour.tif"
    result = colorize(str(scene), log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db"), str(out))
    with rasterio.open(out) as written:
        assert written.crs == GRID_CRS and written.transform == GRID_TRANSFORM
        assert (written.width, written.height) == (90, 70)
        assert written.dataset_mask().all()
        assert written.tags()["input_product"] == "FAKE_20240501"
    assert (result.crs, result.transform) == (GRID_CRS, GRID_TRANSFORM)


def test_a_scene_no_reader_accepts_is_one_line_naming_the_file(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a scene")
    with pytest.raises(GeocolorError) as caught:
        open_s1(notes)
    message = str(caught.value)
    assert message.startswith(f"{notes}: no Sentinel-1 reader opens it")
    assert "backscatter-raster, band-files, grd-safe" in message and "\n" not in message
