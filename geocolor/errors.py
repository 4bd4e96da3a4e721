"""The one user-facing error type.

Every failure a user can cause or fix (bad input, missing file, unreachable service)
is raised as a :class:`GeocolorError`; the CLI prints its message on one line and exits
with its code, so tracebacks are reserved for bugs (and ``--debug``).
"""

from __future__ import annotations

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
