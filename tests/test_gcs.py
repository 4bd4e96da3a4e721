"""``gs://`` end to end: prepare, train and colorize reading from and writing to GCS.

Everything runs against a local GCS emulator (``tests.gcs_emulator``): the products
are uploaded as ESA-style zips, and the store, the checkpoints, the MLflow artifacts
(through a tracking server whose artifact root is in the bucket) and the colour COGs
are written there; outputs are read back through gcsfs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import fsspec
import mlflow
import numpy as np
import pystac
import pytest
import torch
from rasterio.crs import CRS
from rasterio.io import MemoryFile
from shapely.geometry import box, mapping

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.io.filesystems import is_remote
from geocolor.prepare.store import complete_pairs, open_store, read_tile, read_tiles
from geocolor.prepare.tiling import Split
from geocolor.s1.safe import open_safe
from tests.servers import mlflow_server
from tests.stac_validation import validate
from tests.test_train import tracking_template

pytestmark = pytest.mark.slow

LAYOUT = SceneLayout(lines=600, samples=800)
TINY = [
    *("--steps-per-epoch", "2", "--batch-size", "2", "--tile-size", "32", "--num-workers", "0"),
    *("-O", "ngf=4", "-O", "n_blocks=1", "-O", "ndf=4"),
]


def geocolor(*args: str) -> None:
    """Run the CLI quietly; a non-zero exit fails the test with the CLI's own message."""
    assert main(["--quiet", *args]) == 0


@pytest.fixture(scope="module")
def products(gcs_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A Sentinel-1 GRD zip and an overlapping Sentinel-2 L2A zip, uploaded to ``in/``."""
    folder = tmp_path_factory.mktemp("products")
    local = [
        write_synthetic_s1(folder, layout=LAYOUT, seed=1, zip=True),
        write_synthetic_s2(folder, layout=LAYOUT, seed=1, cloud_fraction=0.1, zip=True),
    ]
    fs = fsspec.filesystem("gs")
    urls = [f"{gcs_bucket}/in/{path.name}" for path in local]
    for path, url in zip(local, urls, strict=True):
        fs.put_file(str(path), url)
    return urls[0], urls[1]


@pytest.fixture(scope="module")
def store(gcs_bucket: str, products: tuple[str, str]) -> str:
    """A training store prepared from the bucket's products (found by globs) into it."""
    url = f"{gcs_bucket}/pairs.zarr"
    geocolor(
        *("prepare", "--s1", f"{gcs_bucket}/in/S1*.zip", "--s2", f"{gcs_bucket}/in/S2*"),
        *("-o", url, "--tile-size", "64", "--split-block", "1"),
        *("--min-valid", "0.9", "--max-cloud", "0.2"),
    )
    return url


@pytest.fixture(scope="module")
def tracking_server(gcs_bucket: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An ``mlflow server`` keeping its artifacts in the bucket, as MLFLOW_TRACKING_URI.

    The working folder is a fresh one, so artifacts written locally by mistake show.
    """
    folder = tmp_path_factory.mktemp("tracking")
    database = folder / "server.db"
    shutil.copy(tracking_template(tmp_path_factory), database)
    with (
        mlflow_server(database, f"{gcs_bucket}/mlartifacts") as url,
        pytest.MonkeyPatch.context() as patch,
    ):
        patch.setenv("MLFLOW_TRACKING_URI", url)
        patch.chdir(folder)
        try:
            yield url
        finally:
            mlflow.set_tracking_uri(None)


@pytest.fixture(scope="module")
def model(gcs_bucket: str, store: str, tracking_server: str) -> str:
    """The model ``train`` registers from the bucket's store, checkpointing into the bucket."""
    geocolor(
        "train", store, *TINY, "--epochs", "1", "--checkpoint-dir", f"{gcs_bucket}/checkpoints"
    )
    return "models:/geocolor/1"


def read_back(url: str) -> tuple[CRS, np.ndarray, dict[str, str]]:
    """CRS, dataset mask and tags of a raster in the bucket, fetched through gcsfs."""
    with (
        fsspec.open(url, "rb") as remote,
        MemoryFile(remote.read()) as memory,
        memory.open() as src,
    ):
        return src.crs, src.dataset_mask(), src.tags()


def centre_box(s1: str, half: float = 0.01) -> tuple[float, float, float, float]:
    """A small lon/lat box in the middle of a Sentinel-1 product."""
    centre = open_safe(s1).footprint().centroid
    return centre.x - half, centre.y - half, centre.x + half, centre.y + half


def test_prepare_reads_globbed_zips_and_writes_the_store_to_the_bucket(
    store: str, products: tuple[str, str]
) -> None:
    root = open_store(store, "r")
    (pair,) = complete_pairs(root)
    tiles = read_tiles(root)
    assert len(tiles) > 5 and {Split.TRAIN, Split.VAL} <= set(tiles.split.tolist())
    s1, s2 = read_tile(root, pair, int(tiles.row[0]), int(tiles.col[0]), 64)
    assert np.isfinite(s1).mean() >= 0.9 and -35 < np.nanmedian(s1) < 5
    assert np.isfinite(s2).mean() >= 0.9 and 0 < np.nanmedian(s2) < 0.5
    fs = fsspec.filesystem("gs")
    assert fs.isfile(f"{store}/pairs/{pair}/s1/zarr.json")
    # its STAC catalogue lies beside it in the bucket
    collection = json.loads(fs.cat_file(f"{store}.stac/collection.json"))
    assert [link["href"] for link in collection["links"] if link["rel"] == "item"] == [
        f"./items/{pair}.json"
    ]
    document = json.loads(fs.cat_file(f"{store}.stac/items/{pair}.json"))
    validate(document)
    item = pystac.Item.from_dict(document)
    sources = {
        link.get_href(transform_href=False) for link in item.get_links(pystac.RelType.DERIVED_FROM)
    }
    assert sources == set(products)


def test_train_checkpoints_and_logs_the_model_into_the_bucket(gcs_bucket: str, model: str) -> None:
    fs = fsspec.filesystem("gs")
    (checkpoint,) = fs.glob(f"{gcs_bucket}/checkpoints/*/last.pt")
    assert fs.size(checkpoint) > 0
    assert mlflow.MlflowClient().get_model_version("geocolor", "1").status == "READY"
    artifacts = {path.rsplit("/", 1)[-1] for path in fs.find(f"{gcs_bucket}/mlartifacts")}
    assert {"generator.pt", "spec.json", "MLmodel"} <= artifacts
    assert not Path("mlruns").exists()


def test_train_resumes_from_a_checkpoint_in_the_bucket(
    gcs_bucket: str, store: str, model: str
) -> None:
    fs = fsspec.filesystem("gs")
    (checkpoint,) = [
        fs.unstrip_protocol(path) for path in fs.glob(f"{gcs_bucket}/checkpoints/*/last.pt")
    ]
    folder = checkpoint.rsplit("/", 2)[0]
    geocolor(
        "train", store, *TINY, "--epochs", "2", "--checkpoint-dir", folder, "--resume", checkpoint
    )
    with fsspec.open(checkpoint, "rb") as stream:
        assert torch.load(stream, map_location="cpu", weights_only=True)["epoch"] == 1


def test_colorize_a_zip_in_the_bucket_into_the_bucket(
    gcs_bucket: str, products: tuple[str, str], model: str
) -> None:
    s1 = products[0]
    aoi = ",".join(str(value) for value in centre_box(s1))
    output = f"{gcs_bucket}/out/colour.tif"
    geocolor("colorize", s1, "--model", model, "--aoi", aoi, "-o", output)
    crs, mask, tags = read_back(output)
    assert crs.to_epsg() in range(32601, 32761)
    assert mask.mean() > 0.5
    assert tags["model_version"] == "1"
    with fsspec.open(f"{gcs_bucket}/out/colour.json", "rt") as stream:
        document = json.load(stream)
    validate(document)
    item = pystac.Item.from_dict(document)
    assert item.assets["visual"].href == "./colour.tif"
    assert item.properties["proj:code"] == f"EPSG:{crs.to_epsg()}"
    (source,) = item.get_links(pystac.RelType.DERIVED_FROM)
    assert source.href == s1


@pytest.mark.usefixtures("model")
def test_colorize_a_raster_in_the_bucket_with_a_model_folder_and_aoi_file_there(
    gcs_bucket: str, products: tuple[str, str]
) -> None:
    s1 = products[0]
    processed = f"{gcs_bucket}/s1.tif"
    geocolor("process-s1", s1, "-o", processed)
    aoi = f"{gcs_bucket}/aoi.geojson"
    fs = fsspec.filesystem("gs")
    fs.pipe_file(aoi, json.dumps(mapping(box(*centre_box(s1)))).encode())
    output = f"{gcs_bucket}/out/from-raster.tif"
    source = mlflow.MlflowClient().get_model_version("geocolor", "1").source
    model_id = source.removeprefix("models:/")
    (logged,) = fs.glob(f"{gcs_bucket}/mlartifacts/*/models/{model_id}/artifacts/MLmodel")
    folder = fs.unstrip_protocol(logged.rsplit("/", 1)[0])
    geocolor("colorize", processed, "--model", folder, "--aoi", aoi, "-o", output)
    crs, mask, _ = read_back(output)
    processed_crs, _, _ = read_back(processed)
    assert crs == processed_crs
    assert mask.mean() > 0.5
    assert not [path for path in fs.find(gcs_bucket) if path.endswith(".partial")]


def test_the_emulator_keeps_every_byte_of_an_upload(gcs_bucket: str) -> None:
    fs = fsspec.filesystem("gs")
    for ending in (b"\r", b"\n", b"\r\n", b"\n--"):
        data = bytes(range(256)) + ending
        fs.pipe_file(f"{gcs_bucket}/bytes.bin", data)
        assert fs.cat_file(f"{gcs_bucket}/bytes.bin") == data


def test_missing_objects_in_the_bucket_are_one_line_errors(
    gcs_bucket: str, products: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    s1, s2 = products
    store, cog = f"{gcs_bucket}/unmade.zarr", f"{gcs_bucket}/unmade.tif"
    nothing, missing = f"{gcs_bucket}/in/S9*.zip", f"{gcs_bucket}/missing.tif"
    assert main(["prepare", "--s1", nothing, "--s2", s2, "-o", store]) != 0
    assert f"{nothing}: no Sentinel-1 product matches" in capsys.readouterr().err
    assert main(["process-s1", f"{gcs_bucket}/in/S1.zip", "-o", cog]) != 0
    assert f"{gcs_bucket}/in/S1.zip: no such file or folder" in capsys.readouterr().err
    assert main(["process-s1", s1, "--grid", missing, "-o", cog]) != 0
    assert f"{missing}: no such file" in capsys.readouterr().err
    fs = fsspec.filesystem("gs")
    assert not fs.exists(store) and not fs.exists(cog)


def test_urls_other_than_file_are_remote() -> None:
    assert is_remote("gs://bucket/S1.zip") and is_remote("memory://x.tif")
    assert not is_remote("/data/S1.zip") and not is_remote("file:///data/S1.zip")
    assert not is_remote("relative/S1*.zip")
