"""A generator as an ONNX graph: the file ``models export`` writes and ``int8`` quantises.

The graph takes normalised SAR (batch, bands, height, width; all three free) and returns
the generator's normalised output, as the torch module does; the data normalisation
travels in the file's metadata (``geocolor_spec``) so a server elsewhere can feed it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from geocolor.errors import UsageError

#: Names of the graph's input and output.
INPUT, OUTPUT = "sar_unit", "optical_unit"
#: What exporting and running graphs takes: the ``onnx`` extra.
PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def available() -> bool:
    """Whether the ``onnx`` extra is installed."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES)


def require(purpose: str) -> None:
    """Refuse ``purpose`` in one line when the ``onnx`` extra is missing."""
    if not available():
        raise UsageError(f"{purpose} needs ONNX Runtime: pip install 'geocolor[onnx]'")


def export_onnx(
    generator: nn.Module, example: torch.Tensor, path: Path, metadata: Mapping[str, str]
) -> None:
    """Write ``generator`` (traced on ``example``) to ``path`` with ``metadata`` attached.

    Batch, height and width stay free, so one file serves any tile size. The exporter's
    own chatter is silenced: it says nothing a user can act on.
    """
    require("exporting to ONNX")
    import onnx

    free = torch.export.Dim.DYNAMIC
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        _quiet("torch.onnx", "onnxscript"),
    ):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            generator,
            (example,),
            dynamo=True,
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes=({0: free, 2: free, 3: free},),
            external_data=False,
        )
    assert program is not None  # dynamo=True always returns the program
    model = program.model_proto
    for key, value in metadata.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save_model(model, str(path))


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session on ``path`` using ``threads`` threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
