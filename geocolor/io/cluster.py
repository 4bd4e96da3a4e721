"""The Dask cluster a job runs on: a local one sized to the machine, or an existing one.

The local default runs its workers as threads of this process: the heavy lifting
(GDAL reads, numpy and scipy kernels, compression) releases the GIL, and results reach
the writer without being copied between processes. A job that itself runs as a task
on a cluster (one scene of a batch) uses that cluster, never a new one.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster, get_worker, worker_client

from geocolor.errors import GeocolorError

log = logging.getLogger("geocolor.io.cluster")


def _not_a_task_failure(record: logging.LogRecord) -> bool:
    """Drop the worker's "Compute Failed" report (message and traceback) of a task.

    The task's exception reaches the caller of ``compute`` itself, where the CLI prints
    it on one line (or whole with ``--debug``); the worker's log would repeat it as a
    traceback even with ``--quiet``.
    """
    return not str(record.msg).startswith("Compute Failed")


@contextmanager
def dask_client(scheduler: str | None = None, threads: int | None = None) -> Iterator[Client]:
    """A client for the job: ``scheduler`` address if given, else Dask's config, else local.

    Parameters
    ----------
    scheduler
        Address of an existing scheduler (``tcp://host:8786``). Dask's own configuration
        (``DASK_SCHEDULER_ADDRESS`` / ``scheduler-address``) is used when this is None.
    threads
        Worker threads of the local cluster; defaults to the machine's cores.

    Inside a task on a Dask worker, with no ``scheduler`` given, the client is that
    worker's: the task leaves its thread to the cluster while it waits for its own
    tasks, so jobs running as tasks cannot starve each other of threads.
    """
    logging.getLogger("distributed.worker").addFilter(_not_a_task_failure)
    if scheduler is None and _in_a_task():
        # distributed leaves worker_client unannotated
        with worker_client() as own:
            yield own
        return
    address = scheduler or dask.config.get("scheduler-address", None)
    if address:
        # distributed leaves Client and LocalCluster (constructors, close) unannotated
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise GeocolorError(f"cannot reach Dask scheduler {address}: {exc}") from None
        log.info("using Dask cluster at %s", address)
        try:
            yield client
        finally:
            client.close()
        return
    threads = threads or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=threads,
            processes=False,
            dashboard_address="127.0.0.1:0",
            memory_limit=0,
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info("using a local Dask cluster with %d threads", threads)
        yield client


def _in_a_task() -> bool:
    """Whether this thread runs a task of a Dask worker."""
    try:
        get_worker()
    except ValueError:
        return False
    return True
