"""This process's place in a training job: its rank and its device.

A single process trains on its own; under torchrun (``WORLD_SIZE`` > 1) each process
joins the process group and takes the GPU of its local rank.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import distributed as dist

from geocolor.models.device import resolve_device


@dataclass(frozen=True)
class Placement:
    """This process's place in a (possibly single-process) training job."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process logs, checkpoints and registers."""
        return self.rank == 0


@contextmanager
def placement(device_option: str) -> Iterator[Placement]:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (NCCL on GPUs, Gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_option, int(os.environ.get("LOCAL_RANK", "0")))
    if world_size == 1:
        yield Placement(0, 1, device)
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield Placement(dist.get_rank(), world_size, device)
    finally:
        dist.destroy_process_group()
