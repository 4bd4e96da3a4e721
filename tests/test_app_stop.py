"""``geocolor app`` takes its Streamlit server down with it, however it is stopped.

Within 5 s of the signal its port is free for the next server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.servers import free_port, stop, wait_until_up


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def port_free(port: int) -> bool:
    """Whether a new server could listen on ``port`` now."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
    return True


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the child")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stopping_geocolor_app_stops_streamlit(tmp_path: Path, signum: int) -> None:
    port = free_port()
    env = {**os.environ, "GEOCOLOR_WORKDIR": str(tmp_path / "work")}
    env.pop("GEOCOLOR_APP_CONFIG", None)
    app = subprocess.Popen(
        [sys.executable, "-m", "geocolor.cli", "app", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = 0
    try:
        wait_until_up(f"http://127.0.0.1:{port}/_stcore/health", app)
        (server,) = children(app.pid)
        assert not port_free(port)
        app.send_signal(signum)
        sent = time.monotonic()
        while not port_free(port) and time.monotonic() < sent + 5:
            time.sleep(0.05)
        assert port_free(port), "the app's port was still taken 5 s after the signal"
        app.wait(timeout=30)
        deadline = time.monotonic() + 15
        while alive(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(server), "the Streamlit server outlived geocolor app"
    finally:
        if app.poll() is None:
            stop(app)
        if server and alive(server):
            os.kill(server, signal.SIGKILL)
