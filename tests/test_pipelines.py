"""The pipeline YAMLs document every key with its default value."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from geocolor.colorize.pipeline import ColorizeConfig
from geocolor.config import Config, load_config
from geocolor.prepare.pipeline import PrepareConfig
from geocolor.s1.backscatter import S1Config
from geocolor.train.run_config import TrainConfig

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
CONFIGS: dict[str, type[Config]] = {
    "process-s1.yaml": S1Config,
    "prepare.yaml": PrepareConfig,
    "train.yaml": TrainConfig,
    "colorize.yaml": ColorizeConfig,
}


def documented_keys(model: type[pydantic.BaseModel], data: dict[str, object]) -> None:
    missing = set(model.model_fields) - set(data)
    assert not missing, f"undocumented keys: {sorted(missing)}"
    for name, field in model.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, Config):
            section = data[name]
            assert isinstance(section, dict)
            # a section may leave out keys that do not apply to this pipeline
            assert set(section) <= set(nested.model_fields)


@pytest.mark.parametrize(("name", "config_type"), list(CONFIGS.items()))
def test_pipeline_yaml_matches_defaults(name: str, config_type: type[Config]) -> None:
    path = PIPELINES / name
    assert load_config(config_type, str(path)) == config_type()
    documented_keys(config_type, yaml.safe_load(path.read_text()))
