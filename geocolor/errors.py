"""The one user-facing error type.

Every failure a user can cause or fix (bad input, missing file, unreachable service)
is raised as a :class:`GeocolorError`; the CLI prints its message on one line and exits
with its code, so tracebacks are reserved for bugs (and ``--debug``).
"""

from __future__ import annotations

from typing import NoReturn

FAILURE = 1
USAGE = 2


class GeocolorError(Exception):
    """A problem the user can act on, reported as one line.

    Parameters
    ----------
    message
        One sentence naming the file or setting and what is wrong with it.
    exit_code
        ``1`` for a failure of the job, ``2`` for wrong usage (arguments, config).
    """

    def __init__(self, message: str, exit_code: int = FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(GeocolorError):
    """Wrong arguments or configuration: exit code 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, exit_code=USAGE)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type's name when it has none).

    Messages from libraries (YAML, MLflow, HTTP clients) often span lines; a
    :class:`GeocolorError` quoting one must stay a single line.
    """
    return " ".join(str(exc).split()) or type(exc).__name__


class TileReadError(GeocolorError):
    """A chunk of a stored array cannot be read (corrupt, truncated, unreadable).

    The message names the array and the chunk's key; ``geocolor store check`` finds
    every such chunk of a store. DataLoader workers hand their exceptions back as a
    formatted traceback, which torch passes to the type's constructor: only the
    message's own last line is kept, so the error still reads as one line.
    """

    def __init__(self, message: str) -> None:
        _, marker, own = message.rpartition(f"{type(self).__name__}: ")
        super().__init__(own.strip().splitlines()[-1] if marker and own.strip() else message)


def root_reason(exc: BaseException) -> str:
    """The message of the innermost cause of ``exc``, on one line.

    rasterio reports a failed read as ``Read failed. See previous exception for
    details.``; GDAL's own reason (``TIFFReadEncodedTile() failed``...) is its cause.
    """
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return one_line(exc)


def raise_unchained(error: GeocolorError) -> NoReturn:
    """Raise ``error`` without the exceptions that were being handled when it was made.

    Dask sends a failed task's exception to the client pickled with its whole chain; a
    GDAL error in that chain cannot be unpickled, and the client then receives a bare
    ``Exception`` holding a repr, which the CLI can only call an internal error. Errors
    raised where Dask tasks run therefore carry their cause in the message only.
    """
    try:
        raise error
    finally:
        error.__cause__ = None
        error.__context__ = None
        error.__suppress_context__ = True
