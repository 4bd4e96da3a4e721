"""Scenes on a Dask cluster: outputs as local runs make, reruns skip, a failure stays its own."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pytest
import rasterio
from distributed import Client, LocalCluster, get_worker

from geocolor.cli import main
from geocolor.colorize import batch
from geocolor.colorize.batch import (
    SceneOutcome,
    SceneProgress,
    colorize_scenes,
    is_finished,
    output_paths,
    scene_name,
)
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.errors import UsageError
from geocolor.models.logged import LoadedModel, load_model
from tests.scene_factory import tiny_registry, write_scene

CONFIG = ColorizeConfig(tile_size=64, monitor=False)
MODEL = "models:/geocolor@prod-candidate"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One tiny registry for the module's tests: making one takes seconds."""
    with tiny_registry(tmp_path_factory.mktemp("registry")) as uri:
        yield uri


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """Two single-thread workers in this process: quick to start, models counted here."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        memory_limit=0,
    ) as running:
        yield running


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The worker that loaded each model, in order."""
    loaded: list[str] = []

    def counted(uri: str, device: str = "cpu") -> LoadedModel:
        loaded.append(get_worker().address)
        return load_model(uri, device)

    monkeypatch.setattr(batch, "load_model", counted)
    return loaded


def scenes(folder: Path) -> list[str]:
    """Three small scenes of different sizes, one with a nodata edge."""
    folder.mkdir()
    return [
        str(write_scene(folder / "a.tif", size=150)),
        str(write_scene(folder / "b.SAFE.tif", size=96, nodata_rows=20)),
        str(write_scene(folder / "c.tif", size=130)),
    ]


def pixels_and_tags(path: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    with rasterio.open(path) as src:
        return src.read(), src.dataset_mask(), src.tags()


def no_new_cluster(*args: object, **kwargs: object) -> None:
    pytest.fail("a scene's task started a cluster of its own")


def test_scenes_on_a_cluster_match_local_runs_and_a_rerun_skips_them(
    tmp_path: Path, registry: str, cluster: LocalCluster, loads: list[str]
) -> None:
    uri = MODEL
    with Client(cluster) as client:
        inputs = scenes(tmp_path / "scenes")
        broken = tmp_path / "scenes" / "broken.tif"
        broken.write_bytes(b"not a GeoTIFF")
        out = tmp_path / "out"
        seen: list[SceneOutcome] = []
        steps: list[SceneProgress] = []
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("geocolor.io.cluster.LocalCluster", no_new_cluster)
            outcomes = colorize_scenes(
                [*inputs, str(broken)],
                uri,
                str(out),
                config=CONFIG,
                scheduler=client.scheduler.address,
                progress=steps.append,
                finished=seen.append,
            )
        assert [o.status for o in outcomes] == ["colorized"] * 3 + ["failed"]
        # what a worker sends back survives a trip between processes
        assert [o.line() for o in pickle.loads(pickle.dumps(outcomes))] == [
            o.line() for o in outcomes
        ]
        # every scene's last report says all its tiles are done
        last = {step.scene: step for step in steps}
        assert sorted(last) == sorted(inputs)
        assert all(step.done == step.total > 0 for step in last.values())
        assert "broken.tif" in (outcomes[3].error or "") and "\n" not in (outcomes[3].error or "")
        assert sorted(o.scene for o in seen) == sorted(o.scene for o in outcomes)
        # each worker loaded the model at most once, for three scenes
        assert len(loads) == len(set(loads)) and 1 <= len(loads) <= 2

        for scene, outcome in zip(inputs, outcomes, strict=False):
            local = str(tmp_path / f"local-{Path(scene).name}")
            colorize(scene, uri, local, config=CONFIG)
            rgb, mask, tags = pixels_and_tags(outcome.output)
            want_rgb, want_mask, want_tags = pixels_and_tags(local)
            np.testing.assert_array_equal(rgb, want_rgb)
            np.testing.assert_array_equal(mask, want_mask)
            assert tags == want_tags
            item = json.loads(Path(outcome.output).with_suffix(".json").read_text())
            assert item["assets"]["visual"]["href"] == "./" + Path(outcome.output).name
            assert Path(outcome.output + ".drift.json").exists() or tags["drift_verdict"]
        assert [Path(o.output).name for o in outcomes[:3]] == ["a.tif", "b.tif", "c.tif"]

        before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
        again = colorize_scenes(inputs, uri, str(out), config=CONFIG)
        assert [o.status for o in again] == ["skipped"] * 3
        assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
        assert len(loads) <= 2


def test_the_command_reports_each_failure_and_exits_1(
    tmp_path: Path, registry: str, cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    good = str(write_scene(tmp_path / "good.tif", size=80))
    missing = str(tmp_path / "missing.tif")
    out = tmp_path / "out"
    args = ["colorize", good, missing, "--model", MODEL]
    options = ["-o", f"{out}/", "--tile-size", "64", "--scheduler", cluster.scheduler_address]
    assert main(["--quiet", *args, *options]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [str(out / "good.tif")]
    failures = [line for line in captured.err.splitlines() if "failed" in line]
    assert len(failures) == 2 and failures[0].startswith(f"{missing}: failed: ")
    assert "1 of 2 scenes failed" in failures[1]
    assert (out / "good.json").is_file()
    # several scenes into one COG's name is a slip, refused before any work
    assert main(["--quiet", *args, "-o", str(tmp_path / "all.tif")]) == 2
    assert "need an output folder" in capsys.readouterr().err
    # a model the registry lacks fails the batch at once, on one line
    unknown = ["colorize", good, missing, "--model", "models:/none@x"]
    assert main(["--quiet", *unknown, *options]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "models:/none@x: cannot load the model" in err[0]


def test_scenes_go_straight_into_a_bucket_and_a_rerun_there_skips_them(
    tmp_path: Path, registry: str, cluster: LocalCluster, gcs_bucket: str
) -> None:
    inputs = scenes(tmp_path / "scenes")[:2]
    folder = f"{gcs_bucket}/batch"
    address = cluster.scheduler_address
    first = colorize_scenes(inputs, MODEL, folder, config=CONFIG, scheduler=address)
    assert [o.output for o in first] == [f"{folder}/a.tif", f"{folder}/b.tif"]
    assert [o.status for o in first] == ["colorized"] * 2
    bucket = fsspec.filesystem("gs")
    assert sorted(Path(p).name for p in bucket.ls(folder)) == [
        "a.json",
        "a.tif",
        "b.json",
        "b.tif",
    ]
    again = colorize_scenes(inputs, MODEL, folder, config=CONFIG, scheduler=address)
    assert [o.status for o in again] == ["skipped"] * 2
    redone = colorize_scenes(inputs[:1], MODEL, folder, config=CONFIG, redo=True)
    assert [o.status for o in redone] == ["colorized"]


def test_an_output_of_another_model_is_not_taken_for_finished(tmp_path: Path) -> None:
    cog, item = tmp_path / "x.tif", tmp_path / "x.json"
    cog.write_bytes(b"")
    assert not is_finished(str(cog), MODEL)  # no Item yet: the COG may be partial
    item.write_text(json.dumps({"properties": {"geocolor:model_uri": "models:/other@x"}}))
    assert not is_finished(str(cog), MODEL)
    item.write_text(json.dumps({"properties": {"geocolor:model_uri": MODEL}}))
    assert is_finished(str(cog), MODEL)


def test_output_names_drop_product_suffixes_and_must_differ() -> None:
    assert scene_name("/data/S1A_IW_GRDH_X.SAFE.zip") == "S1A_IW_GRDH_X"
    assert scene_name("/data/S1A_IW_GRDH_X.SAFE/") == "S1A_IW_GRDH_X"
    assert scene_name("gs://bucket/scenes/vv_vh.tif") == "vv_vh"
    assert output_paths(["gs://b/x.tif"], "gs://out") == ["gs://out/x.tif"]
    with pytest.raises(UsageError, match="both be written"):
        output_paths(["/a/x.tif", "/b/x.SAFE.zip"], "/out")
