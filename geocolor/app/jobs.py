"""Colorizations that run beside the page, not inside a Streamlit script run.

Streamlit stops a script run whenever a widget changes, so work done inside one is
abandoned half-way. A job runs in a thread of its own instead, keyed by the hash of
the result it makes, in one registry per server process: a rerun, a changed widget or
a second browser session asking for the same result finds the same job and its
progress. Cancelling is cooperative: the work stops at its next progress report, and
the job's cleanup removes what it had written.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from geocolor.errors import GeocolorError

log = logging.getLogger("geocolor.app.jobs")

#: Where a job stands.
State = Literal["running", "done", "failed", "cancelled"]
#: What a job's work calls with (steps done, steps in all); it raises once cancelled.
Report = Callable[[int, int], None]


class JobCancelledError(Exception):
    """Raised inside a job's work, at its next progress report, once the job is cancelled."""


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of a job, safe to read from any thread."""

    state: State
    done: int
    total: int
    #: Why the job failed (one line), None otherwise.
    error: str | None = None

    @property
    def fraction(self) -> float:
        """Share of the work done, 0 to 1."""
        return self.done / self.total if self.total else 0.0


class Job:
    """One colorization running in its own thread.

    Parameters
    ----------
    key
        The hash of the result the job makes.
    label
        What the job makes, in words a user recognises (no server paths).
    holds
        Folders the job reads or writes, which the work-folder cap must not evict.
    """

    def __init__(self, key: str, label: str, holds: Collection[Path]) -> None:
        self.key = key
        self.label = label
        self.holds = frozenset(holds)
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._status = JobStatus("running", 0, 0)
        self._thread: threading.Thread | None = None

    def start(self, work: Callable[[Report], None], cleanup: Callable[[], None]) -> None:
        """Run ``work(report)`` in a daemon thread; ``cleanup()`` after a failure or cancel."""
        self._thread = threading.Thread(
            target=self._run, args=(work, cleanup), name=f"geocolor-job-{self.key}", daemon=True
        )
        self._thread.start()

    def report(self, done: int, total: int) -> None:
        """Record progress; raises :class:`JobCancelledError` once :meth:`cancel` was called."""
        if self._cancel.is_set():
            raise JobCancelledError(self.key)
        with self._lock:
            self._status = JobStatus("running", done, total)

    def cancel(self) -> None:
        """Ask the work to stop at its next progress report."""
        self._cancel.set()

    @property
    def status(self) -> JobStatus:
        """Where the job stands now."""
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job's thread to end; whether it did within ``timeout`` seconds."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status.state != "running"

    def _run(self, work: Callable[[Report], None], cleanup: Callable[[], None]) -> None:
        try:
            work(self.report)
        except JobCancelledError:
            self._end(cleanup, "cancelled", None)
        except GeocolorError as exc:
            self._end(cleanup, "failed", str(exc))
        except Exception as exc:  # a bug: its traceback goes to the log, one line to the page
            log.exception("job %s failed", self.key)
            self._end(cleanup, "failed", f"internal error: {type(exc).__name__}: {exc}")
        else:
            with self._lock:
                self._status = JobStatus("done", self._status.total, self._status.total)

    def _end(self, cleanup: Callable[[], None], state: State, error: str | None) -> None:
        try:
            cleanup()
        except OSError:
            log.exception("job %s: cleanup failed", self.key)
        with self._lock:
            self._status = JobStatus(state, self._status.done, self._status.total, error)


class JobRegistry:
    """The jobs of one server process, by result key, shared by all browser sessions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}

    def start(
        self,
        key: str,
        label: str,
        work: Callable[[Report], None],
        cleanup: Callable[[], None],
        holds: Collection[Path] = (),
    ) -> Job:
        """The running job for ``key``, or a new one running ``work`` (see :meth:`Job.start`)."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.status.state == "running":
                return job
            job = Job(key, label, holds)
            self._jobs[key] = job
            job.start(work, cleanup)
            return job

    def get(self, key: str) -> Job | None:
        """The latest job for ``key``, finished or not."""
        with self._lock:
            return self._jobs.get(key)

    def held(self) -> set[Path]:
        """Folders that running jobs hold."""
        with self._lock:
            jobs = list(self._jobs.values())
        return {path for job in jobs if job.status.state == "running" for path in job.holds}


#: The registry of this server process.
JOBS = JobRegistry()
