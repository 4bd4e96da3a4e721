"""The search space of ``geocolor tune``: a YAML file of named distributions.

Each key is a ``geocolor train`` setting (``batch_size``, ``tile_size``…) or one of the
backend's options (``lr``, ``ngf``, ``lambda_cycle``…); each value says how Optuna
draws it::

    lr: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    ngf: {type: categorical, choices: [16, 32, 64]}
    n_blocks: {type: int, low: 2, high: 9}

Everything is checked when the file is read, so a typo costs a second, not a study.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pydantic

from geocolor.config import Config, read_yaml
from geocolor.errors import UsageError
from geocolor.train.run_config import TrainConfig

DEFAULT_SPACE = "pipelines/tune.yaml"
#: Settings of ``geocolor train`` a study may vary; the rest are the backend's options.
TRAIN_KEYS = frozenset({"batch_size", "tile_size", "steps_per_epoch"})


class _Float(Config):
    type: Literal["float"]
    low: float
    high: float
    log: bool = False


class _Int(Config):
    type: Literal["int"]
    low: int
    high: int
    log: bool = False


class _Categorical(Config):
    type: Literal["categorical"]
    choices: list[float | int | str | bool] = pydantic.Field(min_length=1)


Distribution = _Float | _Int | _Categorical
_ADAPTER: pydantic.TypeAdapter[Distribution] = pydantic.TypeAdapter(
    Annotated[Distribution, pydantic.Field(discriminator="type")]
)


@dataclass(frozen=True)
class SearchSpace:
    """Named distributions, split into train settings and backend options."""

    distributions: Mapping[str, Distribution]
    source: str

    def suggest(self, trial: Any) -> dict[str, Any]:
        """One draw of every parameter from ``trial`` (an ``optuna.Trial``)."""
        drawn: dict[str, Any] = {}
        for name, spec in self.distributions.items():
            if isinstance(spec, _Float):
                drawn[name] = trial.suggest_float(name, spec.low, spec.high, log=spec.log)
            elif isinstance(spec, _Int):
                drawn[name] = trial.suggest_int(name, spec.low, spec.high, log=spec.log)
            else:
                drawn[name] = trial.suggest_categorical(name, spec.choices)
        return drawn

    def apply(self, base: TrainConfig, drawn: Mapping[str, Any]) -> TrainConfig:
        """``base`` with the drawn values in place (train settings or backend options)."""
        options = dict(base.backend_options)
        settings: dict[str, Any] = {}
        for name, value in drawn.items():
            (settings if name in TRAIN_KEYS else options)[name] = value
        return base.model_copy(update={**settings, "backend_options": options})


def read_space(path: str, backend_options: type[Config]) -> SearchSpace:
    """Read and check a search-space file against ``geocolor train`` and the backend.

    Raises
    ------
    UsageError
        One line naming the file and the key: an unknown key, a malformed distribution,
        an empty or reversed range, a log scale that reaches zero.
    """
    document = read_yaml(path)
    if not document:
        raise UsageError(f"{path}: a search space names at least one parameter")
    known = TRAIN_KEYS | set(backend_options.model_fields)
    distributions: dict[str, Distribution] = {}
    for name, body in document.items():
        if name not in known:
            raise UsageError(
                f"{path}: unknown parameter {name!r} (known: {', '.join(sorted(known))})"
            )
        try:
            spec = _ADAPTER.validate_python(body)
        except pydantic.ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"][1:])
            raise UsageError(f"{path}: {name}: {where or 'value'}: {error['msg']}") from None
        _check_range(path, name, spec)
        distributions[name] = spec
    return SearchSpace(distributions, path)


def _check_range(path: str, name: str, spec: Distribution) -> None:
    if isinstance(spec, _Categorical):
        return
    if not (math.isfinite(spec.low) and math.isfinite(spec.high)) or spec.low >= spec.high:
        raise UsageError(f"{path}: {name}: low {spec.low} must be below high {spec.high}")
    if spec.log and spec.low <= 0:
        raise UsageError(f"{path}: {name}: a log scale needs low > 0, not {spec.low}")
