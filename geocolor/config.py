"""Typed configuration: defaults in code, a pipeline YAML on top, the command line last.

Each command has a :class:`Config` subclass. :func:`load_config` merges the YAML and the
command-line values and validates the result, so an unknown key or a wrong type fails
before any work starts, with a message naming the key and where it came from.
Backend plugins subclass :class:`Config` in the modules the CLI loads to list commands,
so fsspec (for YAML at a URL) is imported only when a file is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import pydantic
import yaml

from geocolor.errors import UsageError, one_line

Upsampling = Literal["nearest", "bilinear"]
"""How generators upsample; here rather than with the layers, so configs load without torch."""
Precision = Literal["auto", "fp32", "bf16", "int8"]
"""Numeric precision of inference (:mod:`geocolor.models.precision`), here for the same reason."""

C = TypeVar("C", bound="Config")


class Config(pydantic.BaseModel):
    """Base of every command's configuration: unknown keys are errors."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


def read_yaml(path: str) -> dict[str, Any]:
    """Read a pipeline YAML file as a mapping (an empty file is an empty mapping)."""
    import fsspec

    try:
        with fsspec.open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a pipeline config must be a mapping of keys to values")
    return data


def load_config(
    config_type: type[C],
    path: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> C:
    """Build ``config_type`` from its defaults, a YAML file and command-line overrides.

    Parameters
    ----------
    config_type
        The command's :class:`Config` subclass.
    path
        Pipeline YAML (local path or fsspec URL); ``None`` for defaults only.
    overrides
        Values from the command line, nested like the config for its sections; ``None``
        values mean "not given" and are skipped, so the YAML (or the default) stays.
    """
    values = read_yaml(path) if path else {}
    given = _given(overrides or {})
    _merge(values, given)
    try:
        return config_type.model_validate(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        parts = [str(part) for part in error["loc"]]
        if not parts:  # a check across keys: name no single key
            message = str(error["msg"]).removeprefix("Value error, ")
            raise UsageError(f"{path or 'configuration'}: {message}") from None
        key = ".".join(parts)
        from_command_line = _lookup(given, parts) is not _MISSING
        where = (
            f"command line option --{parts[-1].replace('_', '-')}" if from_command_line else path
        )
        where = where or "configuration"
        if error["type"] == "extra_forbidden":
            raise UsageError(f"{where}: unknown key {key!r}") from None
        raise UsageError(
            f"{where}: key {key!r}: {error['msg']} (got {error.get('input')!r})"
        ) from None


_MISSING = object()


def _given(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Drop the options that were not given (None), in nested mappings too."""
    given: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping):
            nested = _given(value)
            if nested:
                given[key] = nested
        elif value is not None:
            given[key] = value
    return given


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    """Deep-merge ``top`` into ``base``: nested sections keep the keys ``top`` lacks."""
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _lookup(tree: Mapping[str, Any], parts: list[str]) -> Any:
    node: Any = tree
    for part in parts:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node
