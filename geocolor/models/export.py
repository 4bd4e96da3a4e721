"""``models export``: a logged generator as an ONNX or TorchScript file to serve elsewhere.

The file holds the generator with its norm layers fixed to one mode (``frozen``: the
training data's statistics under the final weights, a fixed network like a trained
BatchNorm's; ``tile``: per-tile instance statistics, for models trained with them),
and the model's spec (backend, channels and the data normalisation that turns SAR dB
into the network's input and its output into reflectance) as metadata: ONNX
``metadata_props`` / TorchScript extra files, both under :data:`SPEC_KEY`. Before it
is kept, the export is run on a random window of a size it was not traced on and
compared with the torch module.
"""

from __future__ import annotations

import copy
import json
import tempfile
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from geocolor.errors import GeocolorError
from geocolor.models.layers import NormMode, set_norm_mode
from geocolor.models.logged import LoadedModel
from geocolor.models.onnx_graph import INPUT, export_onnx, session

ExportFormat = Literal["onnx", "torchscript"]
#: Metadata key (ONNX) and extra file name (TorchScript) of the model's spec.
SPEC_KEY = "geocolor_spec"
#: Largest |export - torch| accepted on the check window (outputs lie in [-1, 1]).
TOLERANCE = 1e-3
# side of the window the graph is traced on; the check window differs from it
TRACE_SIDE = 64


def export_model(
    model: LoadedModel, fmt: ExportFormat, path: Path, norm: NormMode = "frozen", seed: int = 0
) -> float:
    """Write ``model``'s generator to ``path`` in ``fmt``; the check's max abs difference.

    Raises
    ------
    GeocolorError
        When the export disagrees with the torch module by more than :data:`TOLERANCE`
        (nothing is left at ``path``) or cannot be written.
    """
    generator = copy.deepcopy(model.generator).cpu().eval()
    set_norm_mode(generator, norm)
    metadata = {SPEC_KEY: _spec(model, norm)}
    multiple = model.size_multiple
    side = -(-TRACE_SIDE // multiple) * multiple
    example = torch.zeros(1, model.in_channels, side, side)
    rng = np.random.default_rng(seed)
    height, width = (side + multiple * int(k) for k in rng.integers(1, 4, size=2))
    window = torch.from_numpy(
        rng.uniform(-1, 1, (2, model.in_channels, height, width)).astype(np.float32)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as folder:
        staged = Path(folder) / path.name
        with torch.no_grad():
            expected = generator(window)
            if fmt == "onnx":
                export_onnx(generator, example, staged, metadata)
                got = torch.from_numpy(session(staged, 1).run(None, {INPUT: window.numpy()})[0])
            else:
                with warnings.catch_warnings():
                    # the size check in forward is traced as a constant (whoever feeds the
                    # export checks tiles); TorchScript's deprecation is for the user to weigh
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(generator, example)
                    torch.jit.save(traced, str(staged), _extra_files=metadata)
                    got = torch.jit.load(str(staged))(window)
        difference = float((got - expected).abs().max())
        if not difference <= TOLERANCE:
            raise GeocolorError(
                f"{model.uri}: the {fmt} export differs from the model by {difference:.2g} "
                f"on a random window (tolerance {TOLERANCE:g}); nothing written"
            )
        staged.replace(path)
    return difference


def _spec(model: LoadedModel, norm: NormMode) -> str:
    spec = json.loads(model.spec.to_json())
    return json.dumps({**spec, "model_uri": model.uri, "norm": norm})
