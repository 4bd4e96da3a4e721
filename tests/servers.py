"""Local servers the tests start: free ports, readiness polling, MLflow tracking servers."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_up(
    url: str, process: subprocess.Popen[bytes], timeout: float = 60, log: Path | None = None
) -> None:
    """Return once ``url`` answers 200; fail the test if ``process`` dies or stays silent.

    ``log`` (the process's output, if it was kept) is quoted in the failure.
    """
    deadline = time.monotonic() + timeout
    said = f": {log.read_text()}" if log is not None and log.is_file() else ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited with code {process.returncode}{said}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout} s{said}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate ``process`` and reap it, killing it if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def mlflow_server(database: Path, artifacts: str) -> Iterator[str]:
    """``mlflow server`` on a free port over a sqlite ``database``; yields its URL.

    Its environment is this process's, so a ``STORAGE_EMULATOR_HOST`` reaches it too.
    """
    port = free_port()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "mlflow", "server", "--workers", "1"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--backend-store-uri", f"sqlite:///{database}"),
            *("--artifacts-destination", artifacts),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", server)
        yield url
    finally:
        stop(server)


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], state: Any) -> Iterator[Any]:
    """Serve ``handler`` (its ``state`` attribute set to ``state``) on 127.0.0.1 at a free port.

    ``state.base_url`` is set to the server's URL; the server and its thread are stopped
    when the block ends.
    """
    bound = type("Handler", (handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
    server.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
