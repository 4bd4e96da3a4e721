"""``geocolor app``: serve the map app with Streamlit on this machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import click

from geocolor.app.settings import CONFIG_VARIABLE, load_settings


def server_script() -> str:
    """The file of :mod:`geocolor.app.server`, found without importing Streamlit."""
    spec = importlib.util.find_spec("geocolor.app.server")
    assert spec is not None and spec.origin is not None
    return spec.origin


def streamlit_command(port: int, host: str, max_upload_mb: int) -> list[str]:
    """The ``streamlit run`` command line serving :mod:`geocolor.app.server`."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        server_script(),
        "--server.port",
        str(port),
        "--server.address",
        host,
        "--server.headless",
        "true",
        "--server.maxUploadSize",
        str(max_upload_mb),
        "--browser.gatherUsageStats",
        "false",
        "--client.showErrorDetails",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]


@click.command("app")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 to serve other machines).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help=f"YAML app settings (else ${CONFIG_VARIABLE}); environment variables override it.",
)
def app_command(port: int, host: str, config_file: str | None) -> int:
    """Start the map app: pick a scene, draw an AOI, colorize it with a registered model."""
    environ = dict(os.environ)
    if config_file:
        environ[CONFIG_VARIABLE] = str(Path(config_file).resolve())
    settings = load_settings(environ)  # a bad setting fails here, on one line
    settings.results.mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen(streamlit_command(port, host, settings.max_upload_mb), env=environ)
    try:
        return server.wait()
    finally:
        stop_child(server)


def stop_child(process: subprocess.Popen[bytes], grace_s: float = 10) -> None:
    """Stop Streamlit with ``geocolor app``, however that ends (Ctrl-C, SIGTERM, an error).

    Without this a stopped ``geocolor app`` leaves its server running, orphaned, on the
    port. SIGTERM first, so Streamlit closes its sessions; SIGKILL if it lingers.
    """
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
