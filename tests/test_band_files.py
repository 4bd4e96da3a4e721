"""Colorizing a public dataset's own S1 files: band files, and bands without descriptions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from geocolor.cli import main
from geocolor.colorize.readers import open_scene
from geocolor.demo.public_datasets import BEN_S1, write_bigearthnet, write_sen12ms
from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.s1.backscatter import S1Config
from geocolor.s1.band_files import open_band_files
from tests.model_factory import NORMALISATION, log_tiny_model

BANDS = NORMALISATION.sar_bands  # ("VV sigma0 dB", "VH sigma0 dB")
TRAINED = {"speckle": "none", "measure": "sigma0"}


@pytest.fixture(scope="module")
def ben_patch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ben")
    name = write_bigearthnet(root, 1)[0]
    return root / BEN_S1 / name


@pytest.fixture(scope="module")
def sen12ms_patch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sen12ms")
    write_sen12ms(root, scenes=1, patches=1)
    return next(root.glob("*/s1_*/*.tif"))


def band(patch: Path, pol: str) -> str:
    return str(patch / f"{patch.name}_{pol}.tif")


def read_all(source: object, bands: tuple[str, ...] = BANDS) -> np.ndarray:
    config = S1Config(polarisations=tuple(text.split()[0] for text in bands), grid="utm")
    grid: Grid = source.native_grid()  # type: ignore[attr-defined]
    return np.asarray(source.on_grid(config, grid).image.compute())  # type: ignore[attr-defined]


def test_a_patch_folder_is_its_band_files_in_the_models_order(ben_patch: Path) -> None:
    _, source = open_scene(str(ben_patch), ("VH sigma0 dB", "VV sigma0 dB"), TRAINED)
    assert source.info.descriptions == ("VH sigma0 dB", "VV sigma0 dB")  # type: ignore[attr-defined]
    image = read_all(source, ("VH sigma0 dB", "VV sigma0 dB"))
    with rasterio.open(band(ben_patch, "VV")) as vv, rasterio.open(band(ben_patch, "VH")) as vh:
        np.testing.assert_array_equal(image[0], vh.read(1))
        np.testing.assert_array_equal(image[1], vv.read(1))
    assert source.info.product_id == ben_patch.name


def test_band_files_given_one_by_one(ben_patch: Path) -> None:
    files = {"VV": band(ben_patch, "VV"), "VH": band(ben_patch, "VH")}
    path, source = open_scene(files, BANDS, TRAINED)
    assert path == ",".join(files.values())
    with rasterio.open(files["VV"]) as vv:
        np.testing.assert_array_equal(read_all(source)[0], vv.read(1))


def test_an_undescribed_two_band_raster_takes_the_models_band_order(sen12ms_patch: Path) -> None:
    _, source = open_scene(str(sen12ms_patch), BANDS, TRAINED)
    image = read_all(source)
    with rasterio.open(sen12ms_patch) as src:
        assert src.descriptions == (None, None)
        np.testing.assert_array_equal(image, src.read())


def one_line_error(scene: str | dict[str, str], bands: tuple[str, ...] = BANDS) -> str:
    with pytest.raises(GeocolorError) as caught:
        open_scene(scene, bands, TRAINED)
    assert "\n" not in str(caught.value)
    return str(caught.value)


def test_ambiguous_or_impossible_native_files_are_refused(
    ben_patch: Path, sen12ms_patch: Path, tmp_path: Path
) -> None:
    vv = band(ben_patch, "VV")
    # one band of a two-band model: its name says which, the other is missing
    with pytest.raises(GeocolorError, match=r"no VH file \(has VV\)$"):
        read_all(open_scene(vv, BANDS, TRAINED)[1])
    # one undescribed band whose name does not say which polarisation it is
    unnamed = tmp_path / "patch.tif"
    unnamed.write_bytes(Path(vv).read_bytes())
    assert "1 bands without descriptions, the model reads VV, VH; give one file per" in (
        one_line_error(str(unnamed))
    )
    # a two-band raster given as one polarisation
    assert one_line_error({"VV": str(sen12ms_patch)}).endswith("2 bands, a VV file holds one")
    # linear power (never negative) where the model was trained on dB
    linear = tmp_path / "linear_VV.tif"
    with rasterio.open(vv) as src:
        profile, values = src.profile, src.read()
    with rasterio.open(linear, "w", **profile) as dst:
        dst.write(10 ** (values / 10))
    message = one_line_error({"VV": str(linear), "VH": band(ben_patch, "VH")})
    assert "band 1 holds no negative value, unlike the dB backscatter" in message
    # a file on another grid
    shifted = tmp_path / "shifted_VH.tif"
    with rasterio.open(
        shifted, "w", **{**profile, "transform": profile["transform"] @ Affine.translation(5, 0)}
    ) as d:
        d.write(values)
    assert one_line_error({"VV": vv, "VH": str(shifted)}) == f"{shifted}: not on the grid of {vv}"
    # a folder holding two scenes
    for name in ("a_VV.tif", "b_VV.tif"):
        (tmp_path / name).write_bytes(Path(vv).read_bytes())
    assert "holds two VV files (a_VV.tif and b_VV.tif); give the files with --vv" in (
        one_line_error(str(tmp_path))
    )


def test_a_band_file_named_by_its_polarisation_is_that_polarisation(ben_patch: Path) -> None:
    _, source = open_scene(band(ben_patch, "VH"), ("VH sigma0 dB",), TRAINED)
    assert source.info.descriptions == ("VH sigma0 dB",)  # type: ignore[attr-defined]
    _, source = open_scene(band(ben_patch, "VH"), ("VV sigma0 dB",), TRAINED)
    with pytest.raises(GeocolorError, match="no VV file"):  # never read as VV
        read_all(source, ("VV sigma0 dB",))


def test_a_described_band_must_match_the_polarisation_it_is_given_as(
    ben_patch: Path, tmp_path: Path
) -> None:
    described = tmp_path / "p_VV.tif"
    described.write_bytes(Path(band(ben_patch, "VV")).read_bytes())
    with rasterio.open(described, "r+") as dst:
        dst.descriptions = ("VV sigma0 dB",)
    with pytest.raises(GeocolorError, match="described 'VV sigma0 dB', not VH"):
        open_band_files({"VH": str(described)})


def test_colorize_band_files_from_the_command_line(
    ben_patch: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db")
    out = tmp_path / "colour.tif"
    files = ("--vv", band(ben_patch, "VV"), "--vh", band(ben_patch, "VH"))
    assert main(["--quiet", "colorize", *files, "--model", model, "-o", str(out)]) == 0
    with rasterio.open(out) as colour, rasterio.open(band(ben_patch, "VV")) as radar:
        assert colour.count == 3 and colour.shape == radar.shape
        assert colour.transform == radar.transform and colour.dataset_mask().all()
    capsys.readouterr()
    both = ["--quiet", "colorize", str(ben_patch), *files, "--model", model, "-o", str(out)]
    assert main(both) == 2
    assert "give SCENE or its band files (--vv FILE --vh FILE), not both" in capsys.readouterr().err
