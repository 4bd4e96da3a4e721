"""GPUs a cloud training job asks for, named as Compute Engine names them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from geocolor.errors import UsageError

ACCELERATOR = re.compile(r"(?P<type>[a-z0-9-]+)(?::(?P<count>[1-9][0-9]?))?")


@dataclass(frozen=True)
class Accelerator:
    """GPUs attached to the VM, as Compute Engine names them (``nvidia-l4``)."""

    type: str
    count: int = 1


def parse_accelerator(text: str) -> Accelerator:
    """Read ``TYPE`` or ``TYPE:COUNT`` (``nvidia-l4:2``) as given to ``--gpu``."""
    match = ACCELERATOR.fullmatch(text)
    if match is None:
        raise UsageError(f"--gpu {text!r}: expected TYPE or TYPE:COUNT, e.g. nvidia-l4:2")
    return Accelerator(match["type"], int(match["count"] or 1))
