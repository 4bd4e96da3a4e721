"""Termination signals as exceptions, so that a stopped command cleans up after itself.

Python dies on SIGTERM (``kill``, ``docker stop``, a batch scheduler's time limit) or
SIGHUP (a closed terminal) without running ``finally`` blocks or leaving ``with``
statements: scratch folders, staging files and the local Dask cluster stay behind.
While a command runs, these signals raise :class:`Terminated` in the main thread
instead, as Ctrl-C raises :class:`KeyboardInterrupt`, and the usual cleanup runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

# signals whose default action ends the process without cleanup
_TERMINATING = (signal.SIGTERM, signal.SIGHUP)


class Terminated(BaseException):
    """The process was asked to stop by a signal.

    A :class:`BaseException`, like :class:`KeyboardInterrupt`, so that code catching
    ``Exception`` does not swallow it.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 plus its number."""
        return 128 + self.signum


@contextmanager
def signals_as_exceptions() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated`.

    Only signals left at their default action are taken over (a ``nohup`` run keeps
    ignoring SIGHUP); a repeated signal is ignored while the cleanup runs; the previous
    handlers are back after the block. Outside the main thread, where Python cannot
    handle signals, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {
        signum: signal.getsignal(signum)
        for signum in _TERMINATING
        if signal.getsignal(signum) is signal.SIG_DFL
    }

    def terminate(signum: int, frame: FrameType | None) -> None:
        del frame
        for taken in previous:
            signal.signal(taken, signal.SIG_IGN)  # let the cleanup finish
        raise Terminated(signum)

    for signum in previous:
        signal.signal(signum, terminate)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
