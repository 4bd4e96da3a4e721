"""Who owns a file a job leaves behind: this host's name and whether a process lives.

Scratch folders (:mod:`geocolor.io.scratch`) and store locks (:mod:`geocolor.io.locks`)
record their owner's host and PID, so that a later job can tell a live owner's from
one left by a killed process on this host.
"""

from __future__ import annotations

import os
import socket


def host_name() -> str:
    """This host's name, without dashes (they separate fields in scratch names)."""
    return socket.gethostname().replace("-", "_") or "localhost"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
