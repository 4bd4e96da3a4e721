"""Outputs that would destroy an input, or that cannot be written, are refused before any work.

Each refusal is a usage error (exit 2), the input's bytes are unchanged, and nothing of the
job ran: the command's work is replaced by a function that fails the test if reached.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import UsageError
from geocolor.io.outputs import check_output, location
from geocolor.io.scratch import MARK
from tests.scene_factory import write_scene

LAYOUT = SceneLayout(lines=200, samples=300)


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A Sentinel-1 SAFE and its zip, a Sentinel-2 SAFE and a processed scene."""
    folder = tmp_path_factory.mktemp("inputs")
    return {
        "safe": write_synthetic_s1(folder / "safe", layout=LAYOUT, seed=1),
        "zip": write_synthetic_s1(folder / "zip", layout=LAYOUT, seed=1, zip=True),
        "s2": write_synthetic_s2(folder / "s2", layout=LAYOUT, seed=1),
        "scene": write_scene(folder / "scene.tif", size=48),
    }


def digest(path: Path) -> str:
    """sha256 of a file, or of every file of a folder with its relative path."""
    sha = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        sha.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        sha.update(file.read_bytes())
    return sha.hexdigest()


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command's first step of real work fails the test if it is reached."""

    def reached(*args: object, **kwargs: object) -> None:
        pytest.fail("the command started its work before refusing the output")

    monkeypatch.setattr("geocolor.cli.s1.open_safe", reached)
    monkeypatch.setattr("geocolor.cli.colorize.colorize", reached)
    monkeypatch.setattr("geocolor.cli.prepare.open_s1", reached)
    monkeypatch.setattr("geocolor.cli.train.train", reached)
    monkeypatch.setattr("geocolor.cli.demo.write_demo_pair", reached)
    monkeypatch.setattr("geocolor.cli.acquire._search", reached)


def refused(args: list[str], capsys: pytest.CaptureFixture[str], message: str) -> None:
    """The command exits 2 with one line containing ``message``."""
    assert main(["--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1


def colorize(scene: Path | str, output: Path | str, *extra: str) -> list[str]:
    return ["colorize", str(scene), "--model", "models:/none@x", "-o", str(output), *extra]


def prepare(s1: Path, s2: Path, output: Path | str) -> list[str]:
    return ["prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(output)]


@pytest.mark.usefixtures("no_work")
def test_process_s1_onto_its_own_zip_or_into_its_safe_is_refused(
    products: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    archive, safe = products["zip"], products["safe"]
    before = digest(archive), digest(safe)
    refused(["process-s1", str(archive), "-o", str(archive)], capsys, "is the input")
    measurement = next((safe / "measurement").glob("*.tiff"))
    refused(["process-s1", str(safe), "-o", str(measurement)], capsys, "lies inside the input")
    assert (digest(archive), digest(safe)) == before


@pytest.mark.usefixtures("no_work")
def test_colorize_onto_its_scene_model_or_aoi_is_refused(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = products["scene"]
    before = digest(scene)
    refused(colorize(scene, scene), capsys, "is the input")
    # the same file by another name: a relative path, a symbolic link, a hard link
    relative = os.path.relpath(scene)
    refused(colorize(scene, relative), capsys, "is the input")
    link = tmp_path / "link.tif"
    link.symlink_to(scene)
    refused(colorize(scene, link), capsys, "is the input")
    hard = tmp_path / "hard.tif"
    hard.hardlink_to(scene)
    refused(colorize(scene, hard), capsys, "is the input")
    assert digest(scene) == before
    model = tmp_path / "model"
    model.mkdir()
    refused(
        ["colorize", str(scene), "--model", str(model), "-o", str(model / "out.tif")],
        capsys,
        "lies inside the input",
    )
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text("{}")
    refused(colorize(scene, aoi, "--aoi", str(aoi)), capsys, "is the input")
    assert aoi.read_text() == "{}"


@pytest.mark.usefixtures("no_work")
def test_prepare_into_a_product_is_refused(
    products: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    s1, s2 = products["safe"], products["s2"]
    before = digest(s1), digest(s2)
    refused(prepare(s1, s2, s1), capsys, "is the input")
    refused(prepare(s1, s2, s2 / "pairs.zarr"), capsys, "lies inside the input")
    assert (digest(s1), digest(s2)) == before


@pytest.mark.usefixtures("no_work")
def test_an_input_inside_the_store_is_refused(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "pairs.zarr"
    store.mkdir()
    (store / "zarr.json").write_text("{}")
    inside = store / "listing.txt"
    inside.write_text(f"{products['safe']}\n")
    refused(prepare(inside, products["s2"], store), capsys, "lies inside the store")


@pytest.mark.usefixtures("no_work")
def test_a_folder_given_for_a_file_output_is_refused(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    refused(colorize(products["scene"], folder), capsys, "is a folder")
    refused(["process-s1", str(products["safe"]), "-o", str(folder)], capsys, "is a folder")
    assert not list(folder.iterdir())


@pytest.mark.usefixtures("no_work")
def test_a_folder_that_is_not_a_store_is_not_made_one(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    refused(prepare(products["safe"], products["s2"], folder), capsys, "not a Zarr store")
    assert [p.name for p in folder.iterdir()] == ["holiday.jpg"]


@pytest.mark.usefixtures("no_work")
def test_a_missing_output_folder_fails_before_any_work(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing" / "out.tif"
    refused(colorize(products["scene"], missing), capsys, "does not exist")
    refused(["process-s1", str(products["safe"]), "-o", str(missing)], capsys, "does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused(prepare(products["safe"], products["s2"], blocker / "s.zarr"), capsys, "not a folder")
    assert not list(tmp_path.glob(f"**/*{MARK}*")) and not (tmp_path / "missing").exists()


@pytest.mark.skipif(
    os.name != "posix" or os.geteuid() == 0,
    reason="root writes to read-only folders, so there is nothing to refuse",
)
@pytest.mark.usefixtures("no_work")
def test_a_read_only_output_folder_fails_before_any_work(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        refused(colorize(products["scene"], locked / "out.tif"), capsys, "is not writable")
        refused(prepare(products["safe"], products["s2"], locked / "s.zarr"), capsys, "writable")
    finally:
        locked.chmod(0o755)


@pytest.mark.usefixtures("no_work")
def test_other_writing_commands_check_their_output_first(
    products: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "notes.txt"
    taken.write_text("mine")
    refused(["demo-data", "-o", str(taken)], capsys, "is a file, not a folder")
    aoi = tmp_path / "aoi.geojson"
    aoi.write_text("{}")
    fetch = ["fetch", "--aoi", str(aoi), "--start", "2021-01-01", "--end", "2021-01-02"]
    refused([*fetch, "-o", str(aoi)], capsys, "is the input")
    store = tmp_path / "store.zarr"
    store.mkdir()
    checkpoints = ["--checkpoint-dir", str(store / "checkpoints")]
    refused(["train", str(store), *checkpoints], capsys, "lies inside the input")
    assert taken.read_text() == "mine" and aoi.read_text() == "{}"
    assert not list(store.iterdir())


def test_urls_are_compared_normalised() -> None:
    assert location("gcs://bucket/in/") == location("gs://bucket//in")
    assert location("gs://bucket/in").contains(location("gs://bucket/in/S1.zip"))
    assert not location("gs://bucket/in").contains(location("gs://bucket/inner.tif"))
    assert not location("gs://bucket/in").contains(location("s3://bucket/in"))
    with pytest.raises(UsageError, match="is the input"):
        check_output("gcs://b/x.zip", ["gs://b/x.zip"], "file")
    with pytest.raises(UsageError, match="lies inside the input"):
        check_output("gs://b/S1.SAFE/out.tif", ["gs://b/S1.SAFE"], "file")
    check_output("gs://b/out.tif", ["gs://b/S1.SAFE"], "file")


def test_allowed_outputs_pass(tmp_path: Path) -> None:
    """New files, empty and existing stores, folders holding their inputs, URLs as bboxes."""
    scene = write_scene(tmp_path / "scene.tif", size=8)
    check_output(str(tmp_path / "out.tif"), [str(scene), "models:/m@a", "1,2,3,4"], "file")
    check_output(str(tmp_path / "new" / "deep" / "s.zarr"), [str(scene)], "store")
    empty = tmp_path / "empty"
    empty.mkdir()
    check_output(str(empty), [str(scene)], "store")
    existing = tmp_path / "pairs.zarr"
    existing.mkdir()
    (existing / "zarr.json").write_text("{}")
    (existing / "pairs").mkdir()
    check_output(str(existing), [str(scene)], "store")
    # fetch and demo-data write named files into a folder that may hold their AOI
    check_output(str(tmp_path), [str(scene)], "folder")
