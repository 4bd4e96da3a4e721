"""The app's background jobs: shared by key, progress readable anytime, cancelled cleanly."""

from __future__ import annotations

import threading
from pathlib import Path

from geocolor.app.jobs import JobRegistry, Report
from geocolor.errors import GeocolorError

TIMEOUT = 10


class GatedWork:
    """Work that reports step 1 of 4, then waits for ``gate`` while still reporting."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    def __call__(self, report: Report) -> None:
        self.calls += 1
        self.output.write_text("partial")
        report(1, 4)
        self.started.set()
        while not self.gate.wait(0.01):
            report(1, 4)
        report(4, 4)

    def cleanup(self) -> None:
        self.output.unlink(missing_ok=True)


def test_one_job_per_key_shared_by_every_caller(tmp_path: Path) -> None:
    jobs = JobRegistry()
    work = GatedWork(tmp_path / "out")
    first = jobs.start("k", "scene.tif", work, work.cleanup, holds=[tmp_path])
    assert work.started.wait(TIMEOUT)
    second = jobs.start("k", "scene.tif", work, work.cleanup)  # another browser session
    assert second is first and work.calls == 1
    assert first.status.state == "running" and (first.status.done, first.status.total) == (1, 4)
    assert jobs.held() == {tmp_path}

    work.gate.set()
    assert first.wait(TIMEOUT)
    assert first.status.state == "done" and first.status.fraction == 1.0
    assert jobs.held() == set()
    assert jobs.get("k") is first and (tmp_path / "out").exists()


def test_cancel_stops_the_work_and_cleans_its_output(tmp_path: Path) -> None:
    jobs = JobRegistry()
    work = GatedWork(tmp_path / "out")
    job = jobs.start("k", "scene.tif", work, work.cleanup)
    assert work.started.wait(TIMEOUT)
    job.cancel()
    assert job.wait(TIMEOUT)
    assert job.status.state == "cancelled" and job.status.done == 1
    assert not (tmp_path / "out").exists()
    # asking again starts afresh
    again = jobs.start("k", "scene.tif", work, work.cleanup)
    assert again is not job and work.started.wait(TIMEOUT)
    work.gate.set()
    assert again.wait(TIMEOUT) and again.status.state == "done"


def test_failures_are_one_line_and_cleaned(tmp_path: Path) -> None:
    jobs = JobRegistry()
    output = tmp_path / "out"

    def refused(report: Report) -> None:
        output.write_text("partial")
        raise GeocolorError("scene.tif: not a Sentinel-1 scene")

    def broken(report: Report) -> None:
        raise KeyError("band")

    job = jobs.start("a", "scene.tif", refused, lambda: output.unlink())
    assert job.wait(TIMEOUT)
    assert job.status.state == "failed"
    assert job.status.error == "scene.tif: not a Sentinel-1 scene"
    assert not output.exists()
    bug = jobs.start("b", "scene.tif", broken, lambda: None)
    assert bug.wait(TIMEOUT) and bug.status.error == "internal error: KeyError: 'band'"
