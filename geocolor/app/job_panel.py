"""The page's view of background colorizations: start, progress, cancel, and what became of them.

A job (:mod:`geocolor.app.jobs`) outlives the script run that started it, so the page
only looks at it: a fragment polls its progress every second without rerunning the
whole page, and the full page reruns once the job ends. Each browser session keeps
the keys of the jobs it started or watched; a job the page no longer asks for (the
alias or AOI changed meanwhile) stays listed, still running or with how it ended,
until the user dismisses it: no job is ever dropped without a word.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import streamlit as st
from shapely.geometry.base import BaseGeometry

from geocolor.app.jobs import JOBS, Job, JobStatus, Report
from geocolor.app.logic import hide_server_paths, scene_label
from geocolor.app.results import ResultFiles, make_result
from geocolor.app.settings import AppSettings
from geocolor.app.workdir import evict, touch
from geocolor.colorize.pipeline import ColorizeConfig
from geocolor.models.logged import LoadedModel

#: Session-state key of the job keys this session started or watched, oldest first.
WATCHED = "watched_jobs"
#: Session-state key of the server's folders, which messages must not show.
SERVER_FOLDERS = "server_folders"
#: Seconds between two looks at a running job.
POLL_SECONDS = 1.0

# a loaded model is shared by the sessions using it, and colorize sets its norm
# statistics per scene: two jobs on one model take turns
_MODEL_LOCKS: dict[str, threading.Lock] = {}


def start_colorization(
    settings: AppSettings,
    files: ResultFiles,
    scene: str,
    model: LoadedModel,
    aoi: BaseGeometry | None,
    config: ColorizeConfig,
) -> Job:
    """The job making ``files`` (the running one if another session asked first)."""
    version = model.version
    model_name = f"{version.name} v{version.version}" if version else model.uri
    label = f"{scene_label(scene)} with {model_name}"
    holds = {files.folder} | _upload_entry(Path(scene), settings.uploads)

    def work(report: Report) -> None:
        with _turn(_MODEL_LOCKS.setdefault(model.uri, threading.Lock()), report):
            evict(_roots(settings), settings.max_workdir_mb << 20, JOBS.held())
            make_result(files, scene, model, aoi, config, report, input_name=scene_label(scene))
        touch(files.folder)

    def cleanup() -> None:
        shutil.rmtree(files.folder, ignore_errors=True)

    job = JOBS.start(files.key, label, work, cleanup, holds)
    watch(job.key)
    return job


def make_room(settings: AppSettings, scene: Path) -> None:
    """Bring the work folder under its cap, keeping ``scene`` and what running jobs hold."""
    keep = JOBS.held() | _upload_entry(scene, settings.uploads)
    evict(_roots(settings), settings.max_workdir_mb << 20, keep)


def public(text: str) -> str:
    """``text`` as a user may read it: files by name, the server's folders hidden."""
    folders = [folder for folder in st.session_state.get(SERVER_FOLDERS, []) if folder]
    return hide_server_paths(text, folders)


def watch(key: str) -> None:
    """Remember that this session follows the job ``key``."""
    watched: list[str] = st.session_state.setdefault(WATCHED, [])
    if key not in watched:
        watched.append(key)


def seen(key: str) -> None:
    """Stop following the job ``key``: its result is on the page."""
    watched: list[str] = st.session_state.get(WATCHED, [])
    if key in watched:
        watched.remove(key)


def current_job(key: str) -> JobStatus | None:
    """Show the job making the result ``key`` (progress and Cancel); its status.

    Returns None when there is no job for ``key`` yet; a failed or cancelled job's
    message is shown to a session that watched it.
    """
    job = JOBS.get(key)
    if job is None:
        return None
    status = job.status
    if status.state == "running":
        watch(key)
        st.fragment(_follow, run_every=POLL_SECONDS)(job)
    elif status.state != "done" and key in st.session_state.get(WATCHED, []):
        _ended(job, status)
    return status


def other_jobs(current: str | None) -> None:
    """Jobs this session follows besides ``current``: running, or how they ended."""
    keys = [key for key in st.session_state.get(WATCHED, []) if key != current]
    jobs = [job for key in keys if (job := JOBS.get(key)) is not None]
    if jobs:
        running = any(job.status.state == "running" for job in jobs)
        st.fragment(_others, run_every=POLL_SECONDS if running else None)(jobs)


def _follow(job: Job) -> None:
    status = job.status
    if status.state != "running":
        st.rerun(scope="app")  # the whole page: the result, or why there is none
    st.progress(status.fraction, text=_progress_text(status))
    if st.button("Cancel", key=f"cancel-{job.key}"):
        job.cancel()
        st.info("Cancelling: the colorization stops after the tiles in progress.")


def _others(jobs: list[Job]) -> None:
    for job in jobs:
        status = job.status
        if status.state == "running":
            st.info(
                f"The colorization of {job.label} goes on in the background "
                f"({_progress_text(status)}); pick its settings again to follow it."
            )
            if st.button("Cancel it", key=f"cancel-other-{job.key}"):
                job.cancel()
                st.rerun(scope="fragment")
            continue
        _ended(job, status)
        if st.button("Dismiss", key=f"dismiss-{job.key}"):
            st.session_state[WATCHED].remove(job.key)
            st.rerun(scope="app")


def _ended(job: Job, status: JobStatus) -> None:
    if status.state == "done":
        st.success(f"The colorization of {job.label} finished; pick its settings to see it.")
    elif status.state == "cancelled":
        st.warning(
            f"The colorization of {job.label} was cancelled after "
            f"{status.done} of {status.total} tiles; its partial output was removed."
        )
    else:
        st.error(public(f"The colorization of {job.label} failed: {status.error}"))


def _progress_text(status: JobStatus) -> str:
    if status.total == 0:
        return "Preparing the scene…"
    return f"{status.done} of {status.total} tiles"


@contextmanager
def _turn(lock: threading.Lock, report: Report) -> Iterator[None]:
    """Hold ``lock`` for a block, still answering a cancel while waiting for it."""
    while not lock.acquire(timeout=0.2):
        report(0, 0)
    try:
        yield
    finally:
        lock.release()


def _roots(settings: AppSettings) -> list[Path]:
    return [settings.uploads, settings.results]


def _upload_entry(scene: Path, uploads: Path) -> set[Path]:
    """The upload folder holding ``scene``, if it is an upload."""
    try:
        relative = scene.relative_to(uploads)
    except ValueError:
        return set()
    return {uploads / relative.parts[0]} if relative.parts else set()
