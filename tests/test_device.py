"""One reading of the ``device`` option, shared by training and inference."""

from __future__ import annotations

import pytest
import torch

from geocolor.errors import UsageError
from geocolor.models.device import resolve_device


def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_and_plain_cuda_take_the_gpu_of_the_local_rank(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)
    assert resolve_device("cuda", local_rank=2) == torch.device("cuda", 2)
    assert resolve_device("cuda:3", local_rank=2) == torch.device("cuda", 3)
    assert resolve_device("cpu", local_rank=2) == torch.device("cpu")


def test_an_unknown_device_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="'gpu0' is not a torch device"):
        resolve_device("gpu0")
