"""The logged geocolor model: what `colorize`, the app and `evaluate` load.

A logged model is an MLflow pyfunc holding two artifacts: the generator's
``state_dict`` and a JSON spec (backend name, backend config, channel counts and the
data :class:`~geocolor.models.normalisation.Normalisation`). Loading rebuilds the generator
through the backend registry, so nothing is unpickled but the tiny wrapper class.
Its signature is written by hand with free batch, height and width.

Use :func:`load_model` from Python; ``mlflow.pyfunc.load_model`` works too (for
``mlflow models serve``) and takes SAR in dB, returning reflectance. The model carries
geocolor's code (:mod:`~geocolor.models.model_code`), so it loads where geocolor is not
installed. Registry versions and aliases are :mod:`~geocolor.models.model_registry`'s.
"""

from __future__ import annotations

import json
import pickle
import tempfile
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pydantic
import torch
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from mlflow.types import Schema, TensorSpec
from torch import nn

from geocolor import __version__
from geocolor.config import Config
from geocolor.errors import GeocolorError, one_line
from geocolor.models.drift import DriftReference
from geocolor.models.model_code import code_paths, pip_requirements
from geocolor.models.model_registry import VersionInfo, version_info
from geocolor.models.normalisation import Normalisation
from geocolor.models.tracking import quick_tracking
from geocolor.plugins.manager import get_plugins
from geocolor.plugins.registry import Registry

#: Artifact name of the model inside its run.
MODEL_ARTIFACT = "model"
WEIGHTS = "weights"
SPEC = "spec"


@dataclass(frozen=True)
class ModelSpec:
    """Everything besides the weights that rebuilds a generator and feeds it."""

    backend: str
    backend_config: dict[str, Any]
    in_channels: int
    out_channels: int
    normalisation: Normalisation
    #: The Sentinel-1 chain's settings (``S1Config`` keys plus the prepare resolution)
    #: of the training data, so ``colorize`` processes a raw product the same way;
    #: None when the store's pairs disagree or the model predates it.
    sar_processing: dict[str, Any] | None = None
    #: What the training input looked like, for ``colorize``'s drift report; None for
    #: a model logged before drift monitoring.
    drift_reference: DriftReference | None = None
    #: What the predicted Sentinel-2 values are (``{"level": "L2A", "scale": ...,
    #: "offset": ...}``, the store's ``parameters.s2``); None when the store's pairs
    #: disagree or the model predates it.
    optical_conventions: dict[str, Any] | None = None

    def to_json(self) -> str:
        """The spec as a JSON document."""
        return json.dumps(
            {
                "backend": self.backend,
                "backend_config": self.backend_config,
                "in_channels": self.in_channels,
                "out_channels": self.out_channels,
                "normalisation": self.normalisation.to_dict(),
                "sar_processing": self.sar_processing,
                "drift_reference": (
                    self.drift_reference.to_dict() if self.drift_reference is not None else None
                ),
                "optical_conventions": self.optical_conventions,
                "geocolor_version": __version__,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Inverse of :meth:`to_json`."""
        spec = json.loads(text)
        reference = spec.get("drift_reference")
        return cls(
            str(spec["backend"]),
            dict(spec["backend_config"]),
            int(spec["in_channels"]),
            int(spec["out_channels"]),
            Normalisation.from_dict(spec["normalisation"]),
            spec.get("sar_processing"),
            DriftReference.from_dict(reference) if reference is not None else None,
            spec.get("optical_conventions"),
        )


@dataclass
class LoadedModel:
    """A generator ready for inference, with the normalisation it was trained with.

    Attributes
    ----------
    uri
        The URI it was loaded from.
    backend, config
        The backend's registered name and its validated hyper-parameters.
    normalisation
        SAR dB and reflectance ranges of the training data.
    sar_processing
        Sentinel-1 chain settings of the training data (see :class:`ModelSpec`).
    drift_reference
        The training input's histograms and facts; None for an older model.
    optical_conventions
        Level, reflectance scale and offset of the training data's Sentinel-2 values
        (see :class:`ModelSpec`); None for an older model.
    generator
        The torch network in eval mode on :attr:`device`; maps normalised SAR to
        normalised optical.
    receptive_field
        Pixels of context per output pixel (the backend's figure): sets tile overlap.
    size_multiple
        Tile sides must be multiples of this (the generator's ``size_multiple``, else 1).
    version
        Registry name, version, run and aliases; ``None`` for ``runs:/`` URIs and paths.
    """

    uri: str
    backend: str
    config: Config
    normalisation: Normalisation
    sar_processing: dict[str, Any] | None
    generator: nn.Module
    in_channels: int
    out_channels: int
    receptive_field: int
    size_multiple: int
    device: torch.device
    version: VersionInfo | None
    drift_reference: DriftReference | None = None
    optical_conventions: dict[str, Any] | None = None

    @property
    def spec(self) -> ModelSpec:
        """The spec the model was logged with (an export embeds it)."""
        return ModelSpec(
            self.backend,
            self.config.model_dump(mode="json"),
            self.in_channels,
            self.out_channels,
            self.normalisation,
            self.sar_processing,
            self.drift_reference,
            self.optical_conventions,
        )

    @torch.no_grad()
    def predict(
        self, sar_db: np.ndarray, forward: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> np.ndarray:
        """Reflectance (B, out_channels, H, W) from SAR dB (B, in_channels, H, W).

        Pixels where any SAR band is NaN come out NaN. ``forward`` runs the generator
        another way (a reduced precision, :mod:`~geocolor.models.precision`).
        """
        if sar_db.ndim != 4 or sar_db.shape[1] != self.in_channels:
            raise GeocolorError(
                f"{self.uri}: expects SAR of shape (batch, {self.in_channels}, height, width), "
                f"got {sar_db.shape}"
            )
        sar = torch.from_numpy(np.ascontiguousarray(sar_db, dtype=np.float32)).to(self.device)
        unit, valid = self.normalisation.sar_to_unit(sar)
        reflectance = self.normalisation.to_reflectance((forward or self.generator)(unit).float())
        reflectance = torch.where(valid, reflectance, torch.nan)
        return reflectance.cpu().numpy()


class GeneratorModel(PythonModel):
    """The pyfunc face of a logged generator: SAR dB in, reflectance out."""

    def load_context(self, context: PythonModelContext) -> None:
        """Rebuild the generator from the model's artifacts (on CUDA when available)."""
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._model = _from_artifacts(
            "pyfunc model",
            Path(context.artifacts[SPEC]),
            Path(context.artifacts[WEIGHTS]),
            device,
            get_plugins().backends,
            None,
        )

    def predict(
        self,
        context: PythonModelContext,
        model_input: np.ndarray,
        params: dict[str, Any] | None = None,
    ) -> np.ndarray:
        """Reflectance for a float32 (B, in_channels, H, W) batch of SAR in dB."""
        del context, params
        return self._model.predict(np.asarray(model_input, dtype=np.float32))


def signature(spec: ModelSpec) -> ModelSignature:
    """Float32 tensors with free batch, height and width: any tile size goes."""
    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, spec.in_channels, -1, -1))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, spec.out_channels, -1, -1))]),
    )


def log_generator(generator: nn.Module, spec: ModelSpec) -> str:
    """Log ``generator`` in the active run; returns the logged model's URI.

    The model carries geocolor's code and names its dependencies, not geocolor itself
    (see :mod:`~geocolor.models.model_code`).
    """
    with tempfile.TemporaryDirectory() as folder:
        weights, spec_file = Path(folder) / "generator.pt", Path(folder) / "spec.json"
        torch.save({k: v.detach().cpu() for k, v in generator.state_dict().items()}, weights)
        spec_file.write_text(spec.to_json())
        with warnings.catch_warnings():
            # the signature is written by hand on purpose: no example needed to infer it
            warnings.filterwarnings("ignore", message=".*An input example was not provided")
            info = mlflow.pyfunc.log_model(
                name=MODEL_ARTIFACT,
                python_model=GeneratorModel(),
                artifacts={WEIGHTS: str(weights), SPEC: str(spec_file)},
                signature=signature(spec),
                pip_requirements=pip_requirements(),
                code_paths=code_paths(Path(folder)),
            )
    return str(info.model_uri)


def register_generator(model_uri: str, model_name: str, tags: Mapping[str, str]) -> str:
    """Register a logged generator as a new version of ``model_name``; returns the version."""
    return str(mlflow.register_model(model_uri, model_name, tags=dict(tags)).version)


def load_model(
    uri: str, device: torch.device | str = "cpu", backends: Registry[Any] | None = None
) -> LoadedModel:
    """Load a logged generator for inference.

    Parameters
    ----------
    uri
        ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN_ID/model`` or a
        local folder holding the logged model (its ``MLmodel`` file).
    device
        Where the generator is placed.
    backends
        Registry the model's backend is looked up in (default: the loaded plugins').

    Raises
    ------
    GeocolorError
        One line naming ``uri`` when it cannot be resolved, downloaded or rebuilt.
    """
    registry = get_plugins().backends if backends is None else backends
    try:
        version = version_info(uri)
        # an alias is resolved once, so a concurrent move cannot mix two versions
        source = f"models:/{version.name}/{version.version}" if version else uri
        folder = Path(uri) if Path(uri).is_dir() else _download(source)
        artifacts = Model.load(str(folder)).flavors["python_function"]["artifacts"]
        spec_file = folder / artifacts[SPEC]["path"]
        weights = folder / artifacts[WEIGHTS]["path"]
    except (MlflowException, OSError, KeyError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise GeocolorError(f"{uri}: cannot load the model ({one_line(exc)})") from None
    return _from_artifacts(uri, spec_file, weights, torch.device(device), registry, version)


def _download(uri: str) -> Path:
    with quick_tracking():
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri))


def _from_artifacts(
    uri: str,
    spec_file: Path,
    weights: Path,
    device: torch.device,
    backends: Registry[Any],
    version: VersionInfo | None,
) -> LoadedModel:
    try:
        spec = ModelSpec.from_json(spec_file.read_text())
        backend = backends.get(spec.backend)
        config = backend.config_type.model_validate(spec.backend_config)
        generator = backend.build_generator(spec.in_channels, spec.out_channels, config)
        generator.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (
        GeocolorError,
        OSError,
        EOFError,
        pickle.UnpicklingError,
        ValueError,
        KeyError,
        TypeError,
        RuntimeError,
        pydantic.ValidationError,
    ) as exc:
        raise GeocolorError(f"{uri}: cannot load the model ({one_line(exc)})") from None
    return LoadedModel(
        uri=uri,
        backend=spec.backend,
        config=config,
        normalisation=spec.normalisation,
        sar_processing=spec.sar_processing,
        generator=generator.to(device).eval(),
        in_channels=spec.in_channels,
        out_channels=spec.out_channels,
        receptive_field=int(backend.receptive_field(config)),
        size_multiple=int(getattr(generator, "size_multiple", 1)),
        device=device,
        version=version,
        drift_reference=spec.drift_reference,
        optical_conventions=spec.optical_conventions,
    )
