"""Termination signals as exceptions, so that a stopped command cleans up after itself.

Python dies on SIGTERM (``kill``, ``docker stop``, a batch scheduler's time limit) or
SIGHUP (a closed terminal) without running ``finally`` blocks or leaving ``with``
statements: scratch folders, staging files and the local Dask cluster stay behind.
While a command runs, these signals raise :class:`Terminated` in the main thread
instead, as Ctrl-C raises :class:`KeyboardInterrupt`, and the usual cleanup runs.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# signals whose default action ends the process without cleanup
_TERMINATING = (signal.SIGTERM, signal.SIGHUP)
# seconds between deliveries of a signal again, until its exception reaches the block's end
_REDELIVERY_S = 0.01


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
    ignoring SIGHUP); a repeated signal is ignored while the cleanup runs (while a
    :class:`Terminated` is being handled); the previous
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
        if _handling_termination(sys.exc_info()[1]):
            return  # a repeat while the cleanup runs: let it finish
        if not redelivery.signum:
            redelivery.signum = signum
            redelivery.start()
        raise Terminated(signum)

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, Terminated):  # a swallowed one is delivered again
            report(info)

    redelivery = _Redelivery(threading.main_thread().ident)
    report, sys.unraisablehook = sys.unraisablehook, unraisable
    for signum in previous:
        signal.signal(signum, terminate)
    try:
        yield
    finally:
        try:
            redelivery.stop()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            sys.unraisablehook = report
    if redelivery.signum:
        raise Terminated(redelivery.signum)  # every raise was swallowed; stop anyway


class _Redelivery(threading.Thread):
    """Sends the signal to the main thread again until the block has ended.

    Python ignores what a finaliser, a weakref or GC callback raises (distributed's GC
    diagnosis is one); a signal handled there would be lost. Delivered again, it raises
    where the exception can propagate; while ``Terminated`` is being handled, repeats
    are ignored.
    """

    def __init__(self, main: int | None) -> None:
        super().__init__(name="geocolor-signal-redelivery", daemon=True)
        self.main, self.signum = main, 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(_REDELIVERY_S) and self.main is not None:
            signal.pthread_kill(self.main, self.signum)

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join()


def _handling_termination(exc: BaseException | None) -> bool:
    """Whether ``exc``, the exception being handled, is or follows a :class:`Terminated`."""
    while exc is not None:
        if isinstance(exc, Terminated):
            return True
        exc = exc.__context__
    return False
