"""CPU time of the ``geocolor`` command's start-up.

Runs ``geocolor --version``, ``geocolor --help`` and ``geocolor plugins`` (the console
script beside this interpreter) ``--repeat`` times each and reports the median user +
system CPU seconds of the process, steadier than wall time on a shared machine. Target:
``--version`` and ``--help`` under 0.5 s; ``plugins`` loads every plugin and has none.

    python benchmarks/cli_startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

TARGET_S = 0.5
COMMANDS = {"--version": TARGET_S, "--help": TARGET_S, "plugins": None}


def cpu_seconds(command: list[str]) -> float:
    """User + system CPU seconds of one run of ``command`` (its output discarded)."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="Runs per command (5).")
    args = parser.parse_args()
    geocolor = str(Path(sys.executable).with_name("geocolor"))
    print(f"{'command':<20} {'CPU s (median)':>15} {'target':>8} {'':>6}")
    for argument, target in COMMANDS.items():
        runs = [cpu_seconds([geocolor, argument]) for _ in range(args.repeat)]
        median = statistics.median(runs)
        verdict = "" if target is None else ("met" if median < target else "MISSED")
        limit = "" if target is None else f"< {target:g}"
        print(f"{'geocolor ' + argument:<20} {median:>15.2f} {limit:>8} {verdict:>6}")


if __name__ == "__main__":
    main()
