"""Where a network runs: one reading of the ``device`` option for training and inference."""

from __future__ import annotations

import torch

from geocolor.errors import UsageError


def resolve_device(option: str, local_rank: int = 0) -> torch.device:
    """The torch device an option names; ``auto`` is this rank's GPU when there is one.

    Parameters
    ----------
    option
        ``auto``, ``cpu``, ``cuda`` or any torch device string (``cuda:1``, ``mps``…).
    local_rank
        The process's GPU within its machine under torchrun: plain ``cuda`` (and
        ``auto`` on a GPU machine) picks it, so each rank of a job gets its own GPU.

    Raises
    ------
    UsageError
        When ``option`` is not a torch device.
    """
    if option == "auto":
        option = "cuda" if torch.cuda.is_available() else "cpu"
    if option == "cuda":
        return torch.device("cuda", local_rank)
    try:
        return torch.device(option)
    except RuntimeError:
        raise UsageError(
            f"device {option!r} is not a torch device (auto, cpu, cuda, cuda:1…)"
        ) from None
