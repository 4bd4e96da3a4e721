"""A command stopped by a signal removes its scratch; what a killed one left is swept later."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlflow
import pytest

from geocolor.cli import main
from geocolor.cli.demo import DEMO_SIZE
from geocolor.cli.signals import Terminated, signals_as_exceptions
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.io import scratch
from geocolor.io.scratch import MARK, owner_tag, scratch_folder, sweep_stale
from tests.model_factory import log_tiny_model
from tests.scene_factory import write_scene

# dask's shared lock files in the temporary folder, left by every run that starts a cluster
DASK_LOCKS = {Path("dask-scratch-space/global.lock"), Path("dask-scratch-space/purge.lock")}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny logged model, downloaded to a folder that ``--model`` takes as it is."""
    folder = tmp_path_factory.mktemp("model")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # artifacts go to ./mlruns
        uri = log_tiny_model(f"sqlite:///{folder}/mlflow.db")
        try:
            path = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder))
        finally:
            mlflow.set_tracking_uri(None)
    return Path(path)


def scratch_in(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{MARK}-*"))


def files_under(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}


def test_sigterm_mid_run_leaves_no_scratch_and_the_next_run_sweeps_a_dead_runs(
    tmp_path: Path, model: Path
) -> None:
    lines, samples = DEMO_SIZE
    product = write_synthetic_s1(tmp_path / "in", layout=SceneLayout(lines=lines, samples=samples))
    out, temporary = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    temporary.mkdir()
    command = [sys.executable, "-m", "geocolor.cli", "--quiet", "colorize", str(product)]
    command += ["--model", str(model), "-o", str(out / "colour.tif")]
    process = subprocess.Popen(
        command, env={**os.environ, "TMPDIR": str(temporary)}, stderr=subprocess.PIPE, text=True
    )
    try:
        # mid-run: the scene is being computed into a scratch file beside the output
        deadline = time.monotonic() + 300
        while not any(files_under(folder) for folder in scratch_in(out)):
            assert process.poll() is None, "colorize ended before it could be stopped"
            assert time.monotonic() < deadline, "no scratch file appeared"
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGTERM
    assert err.strip() == "geocolor: terminated by SIGTERM"
    assert list(out.iterdir()) == []
    assert files_under(temporary) <= DASK_LOCKS

    # what a killed run (kill -9) leaves: a scratch folder of a process that is gone
    left = out / f".colour.tif.{owner_tag(process.pid)}abcd1234"
    left.mkdir()
    (left / "scene.npy").write_bytes(b"\0" * 1024)
    scene = write_scene(tmp_path / "scene.tif", size=40)
    code = main(
        ["--quiet", "colorize", str(scene), "--model", str(model), "-o", str(out / "c.tif")]
    )
    assert code == 0
    assert sorted(path.name for path in out.iterdir()) == ["c.json", "c.tif"]  # COG, STAC Item


def test_only_stale_scratch_is_swept(tmp_path: Path) -> None:
    """A dead owner's folder goes; a live one's stays unless it is older than the limit."""
    dead_pid = int(
        subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    folders = {
        "dead": tmp_path / f".a.tif.{owner_tag(dead_pid)}aaaa",
        "live": tmp_path / f".b.tif.{owner_tag(os.getpid())}bbbb",
        "old": tmp_path / f".c.tif.{owner_tag(os.getpid())}cccc",
        "elsewhere": tmp_path / f".d.tif.{MARK}-otherhost-{dead_pid}-dddd",
        "unrelated": tmp_path / ".e.tif.geocolor-tmp-notes",
    }
    for folder in folders.values():
        folder.mkdir()
    long_ago = time.time() - scratch.STALE_AFTER - 60
    os.utime(folders["old"], (long_ago, long_ago))
    assert sorted(sweep_stale(tmp_path)) == sorted([folders["dead"], folders["old"]])
    assert {p.name for p in tmp_path.iterdir()} == {
        folders[name].name for name in ("live", "elsewhere", "unrelated")
    }


def test_scratch_lies_beside_a_local_output_and_goes_on_any_exit(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), scratch_folder(str(tmp_path / "x.tif")) as folder:
        assert folder.parent == tmp_path and folder.name.startswith(f".x.tif.{MARK}-")
        (folder / "big.npy").write_bytes(b"\0" * 10)
        raise RuntimeError("failed")
    assert list(tmp_path.iterdir()) == []
    with scratch_folder("gs://bucket/x.tif") as remote:
        assert remote.parent == Path(tempfile.gettempdir())
    assert not remote.exists()


def test_termination_signals_raise_and_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    ignored = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with pytest.raises(Terminated) as stopped, signals_as_exceptions():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
        assert stopped.value.exit_code == 143
        assert signal.getsignal(signal.SIGTERM) is before
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, ignored)


def test_a_signal_inside_a_gc_callback_still_raises_in_the_block() -> None:
    # Python ignores what a GC callback raises: the signal must raise again after it returns
    sent: list[bool] = []

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGTERM)
            sum(range(10_000))  # bytecode: the handler runs here, inside the callback

    gc.callbacks.append(callback)
    try:
        with pytest.raises(Terminated), signals_as_exceptions():
            gc.collect()
            time.sleep(5)  # the redelivered signal raises before this ends
    finally:
        gc.callbacks.remove(callback)
    assert sent
