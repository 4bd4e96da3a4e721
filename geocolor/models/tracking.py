"""Talking to the MLflow tracking server: fail fast and say which server when it is not there.

MLflow's HTTP client waits 120 s per request and retries 7 times with backoff, so a
command pointed at a dead server used to sit for about 250 s and then report what
the failed call was looking for ("no such version"). Around a short exchange
(registry look-ups, a model's download, the check before training) geocolor sets
MLflow's own settings to :data:`HTTP_DEFAULTS` unless the user set them, and an
unreachable server becomes one line naming the tracking URI. Long runs keep MLflow's
patient defaults once the server has answered: a training run should outlive a
server restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
import requests
from mlflow.exceptions import MlflowException

from geocolor.errors import GeocolorError

__all__ = ["HTTP_DEFAULTS", "check_reachable", "quick_tracking", "raise_if_unreachable"]

HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
"""Seconds per request, retries and backoff: a refused connection fails in about 4 s,
a server that never answers in about 20 s."""


def raise_if_unreachable(exc: MlflowException) -> None:
    """Raise a :class:`GeocolorError` naming the tracking URI if ``exc`` is a failed connection.

    MLflow wraps the HTTP client's error (refused, timed out, unknown host) in a plain
    ``MlflowException``; any other error (a missing version, a bad argument) is left to
    the caller.
    """
    reason = exc.__cause__ or exc.__context__
    if not isinstance(reason, requests.RequestException):
        return
    what = "did not answer in time" if isinstance(reason, requests.Timeout) else "cannot be reached"
    raise GeocolorError(
        f"MLflow tracking server {mlflow.get_tracking_uri()} {what}; start it or set "
        "MLFLOW_TRACKING_URI."
    ) from None


@contextmanager
def quick_tracking() -> Iterator[None]:
    """MLflow calls inside fail fast (:data:`HTTP_DEFAULTS`) and name an unreachable server."""
    added = {name: value for name, value in HTTP_DEFAULTS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    except MlflowException as exc:
        raise_if_unreachable(exc)
        raise
    finally:
        for name in added:
            os.environ.pop(name, None)


def check_reachable() -> None:
    """Ask the tracking server one cheap question, so work that will log to it starts only
    when it answers."""
    with quick_tracking():
        mlflow.MlflowClient().search_experiments(max_results=1)
