"""One writer per store: concurrent ``prepare`` runs, stale and broken locks, signals."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.errors import GeocolorError
from geocolor.io.locks import lock_path, store_lock
from geocolor.io.processes import host_name
from geocolor.prepare.store import complete_pairs, open_store, read_tiles, store_tile_size
from geocolor.prepare.store_check import check_complete_pairs

LAYOUT = SceneLayout(lines=300, samples=400)
TILE = ["--tile-size", "64", "--min-valid", "0.9", "--max-cloud", "0.2"]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("scenes")
    s1 = write_synthetic_s1(folder, layout=LAYOUT, seed=3)
    s2 = write_synthetic_s2(folder, layout=LAYOUT, seed=3, cloud_fraction=0.1)
    return s1, s2


def prepare_args(scenes: tuple[Path, Path], store: Path, *extra: str) -> list[str]:
    s1, s2 = scenes
    return ["prepare", "--s1", str(s1), "--s2", str(s2), "-o", str(store), *TILE, *extra]


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed (and resumed first, if stopped) when it ends."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait()


def spawn(
    children: list[subprocess.Popen[bytes]], args: list[str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as stream:
        process = subprocess.Popen(
            [sys.executable, "-m", "geocolor.cli", *args], stdout=stream, stderr=stream
        )
    children.append(process)
    return process


def wait_for(condition: object, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def write_lock(store: Path, pid: int, host: str, since: float) -> Path:
    lock = Path(lock_path(str(store)))
    lock.write_text(json.dumps({"pid": pid, "host": host, "since": since, "token": "old"}))
    return lock


def assert_sound(store: Path) -> None:
    """Every complete pair's arrays hold what its index says, and there are tiles."""
    root = open_store(str(store), "r")
    assert complete_pairs(root)
    assert check_complete_pairs(root, store_tile_size(root)) == []
    assert len(read_tiles(root)) > 0


def test_concurrent_prepares_fail_clearly_or_wait_and_leave_a_sound_store(
    scenes: tuple[Path, Path], tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    store = tmp_path / "pairs.zarr"
    lock = Path(lock_path(str(store)))
    first = spawn(children, ["--quiet", *prepare_args(scenes, store)], tmp_path / "first.log")
    wait_for(lambda: lock.exists() or first.poll() is not None, "the first run's lock")
    assert first.poll() is None, (tmp_path / "first.log").read_text()
    # hold the first run mid-write, so the others surely meet its lock
    first.send_signal(signal.SIGSTOP)
    try:
        second = spawn(children, ["--quiet", *prepare_args(scenes, store)], tmp_path / "second.log")
        waiter = spawn(
            children, prepare_args(scenes, store, "--wait-lock", "300"), tmp_path / "third.log"
        )
        assert second.wait(timeout=120) == 1
        said = (tmp_path / "second.log").read_text().strip().splitlines()
        assert said == [
            f"geocolor: error: {lock}: the store is being written by PID {first.pid} on "
            f"{host_name()} since " + said[0].split(" since ")[1]
        ]
        assert "--wait-lock" in said[0] and "--break-lock" in said[0]
        wait_for(lambda: "waiting up to 300 s" in (tmp_path / "third.log").read_text(), "a wait")
        assert waiter.poll() is None
    finally:
        first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()
    assert waiter.wait(timeout=300) == 0, (tmp_path / "third.log").read_text()
    assert "skipped (already complete)" in (tmp_path / "third.log").read_text()
    assert not lock.exists()
    assert_sound(store)


def test_stale_lock_of_a_dead_process_is_taken_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = tmp_path / "pairs.zarr"
    lock = write_lock(store, dead_pid(), host_name(), time.time())
    with store_lock(str(store)) as me:
        assert json.loads(lock.read_text())["pid"] == os.getpid() == me.pid
    assert "taking over the stale lock" in caplog.text and "its process is gone" in caplog.text
    assert not lock.exists()


def test_lock_from_another_host_is_stale_only_when_old(tmp_path: Path) -> None:
    store = tmp_path / "pairs.zarr"
    lock = write_lock(store, os.getpid(), "elsewhere", time.time() - 120)
    held = pytest.raises(GeocolorError, match=r"being written by PID \d+ on elsewhere")
    with held, store_lock(str(store), stale_after=3600):
        pass
    assert json.loads(lock.read_text())["token"] == "old"  # left alone
    with store_lock(str(store), stale_after=60) as me:
        assert json.loads(lock.read_text())["token"] == me.token


def test_waiting_for_a_live_lock_times_out_naming_it(tmp_path: Path) -> None:
    store = tmp_path / "pairs.zarr"
    with store_lock(str(store)):
        started = time.monotonic()
        with (
            pytest.raises(GeocolorError, match="did not finish in time"),
            store_lock(str(store), wait=0.6),
        ):
            pass
        assert 0.5 < time.monotonic() - started < 5
    assert not Path(lock_path(str(store))).exists()


def test_break_lock_lets_prepare_past_a_live_holder(
    scenes: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "pairs.zarr"
    lock = write_lock(store, os.getpid(), host_name(), time.time())  # alive: this process
    assert main(["--quiet", *prepare_args(scenes, store)]) == 1
    assert f"being written by PID {os.getpid()}" in capsys.readouterr().err
    assert not (store / "zarr.json").exists()  # refused before writing anything
    assert main(["--quiet", *prepare_args(scenes, store, "--break-lock")]) == 0
    assert not lock.exists()
    assert_sound(store)


def test_lock_is_released_when_prepare_is_terminated(
    scenes: tuple[Path, Path], tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    store = tmp_path / "pairs.zarr"
    lock = Path(lock_path(str(store)))
    process = spawn(children, ["--quiet", *prepare_args(scenes, store)], tmp_path / "run.log")
    wait_for(lambda: lock.exists() or process.poll() is not None, "the lock")
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 128 + signal.SIGTERM
    assert not lock.exists()
    if (store / "zarr.json").exists():
        assert complete_pairs(open_store(str(store), "r")) == []


def test_lock_on_a_bucket_is_created_only_if_absent(gcs_bucket: str) -> None:
    store = f"{gcs_bucket}/locked.zarr"
    fs = fsspec.filesystem("gs")
    with store_lock(store) as me:
        assert json.loads(fs.cat(lock_path(store)))["token"] == me.token
        with pytest.raises(GeocolorError, match=f"PID {me.pid}"), store_lock(store):
            pass
        assert json.loads(fs.cat(lock_path(store)))["token"] == me.token  # not replaced
    fs.invalidate_cache()
    assert not fs.exists(lock_path(store))
