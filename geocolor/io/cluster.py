"""The Dask cluster a job runs on: a local one sized to the machine, or an existing one.

The local default runs its workers as threads of this process: the heavy lifting
(GDAL reads, numpy and scipy kernels, compression) releases the GIL, and results reach
the writer without being copied between processes.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster

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
    """
    logging.getLogger("distributed.worker").addFilter(_not_a_task_failure)
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
