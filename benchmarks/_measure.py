"""Run a benchmark stage in a child process and measure its wall time and peak RSS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def run_stage(script: Path, *args: str) -> dict[str, Any]:
    """Run ``python script *args``; return the JSON it prints plus process_wall_s, cpu_s (user +
    system, the stage's own CPU time: comparable on a shared machine) and peak_rss_gib."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if process.returncode != 0:
        raise SystemExit(f"stage {args} failed with exit code {process.returncode}")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    result["peak_rss_gib"] = usage.ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux
    result["cpu_s"] = usage.ru_utime + usage.ru_stime
    return result
