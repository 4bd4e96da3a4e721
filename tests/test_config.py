from __future__ import annotations

from pathlib import Path

import pytest

from geocolor.config import Config, load_config
from geocolor.errors import UsageError


class Example(Config):
    epochs: int = 3
    tile_size: int = 256
    backend: str = "cyclegan"
    ratio: float = 0.5


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return str(path)


def test_defaults_come_from_code() -> None:
    assert load_config(Example) == Example()


def test_yaml_overrides_defaults_and_command_line_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "epochs: 7\ntile_size: 128\n")
    config = load_config(Example, path, {"epochs": 9, "backend": None})
    assert (config.epochs, config.tile_size, config.backend) == (9, 128, "cyclegan")


def test_unknown_key_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "tile_sise: 128\n")
    with pytest.raises(UsageError, match=r"pipeline\.yaml: unknown key 'tile_sise'") as info:
        load_config(Example, path)
    assert info.value.exit_code == 2


def test_wrong_type_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "epochs: five\n")
    with pytest.raises(UsageError, match=r"pipeline\.yaml: key 'epochs'.*'five'"):
        load_config(Example, path)


def test_wrong_type_from_command_line_names_option() -> None:
    with pytest.raises(UsageError, match=r"command line option --ratio"):
        load_config(Example, None, {"ratio": "lots"})


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="must be a mapping"):
        load_config(Example, write(tmp_path, "- a\n- b\n"))


def test_missing_file() -> None:
    with pytest.raises(UsageError, match="config file not found"):
        load_config(Example, "/nonexistent/prepare.yaml")


def test_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(Example, write(tmp_path, "epochs: [1, 2\n"))


class Section(Config):
    speckle: str = "lee"
    window: int = 7


class Nested(Config):
    s1: Section = Section()
    tile_size: int = 256


def test_nested_sections_merge_and_command_line_wins(tmp_path: Path) -> None:
    path = write(tmp_path, "s1:\n  window: 5\n  speckle: frost\n")
    config = load_config(Nested, path, {"s1": {"speckle": "boxcar", "window": None}})
    assert config.s1 == Section(speckle="boxcar", window=5)


def test_nested_errors_name_the_dotted_key(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"pipeline\.yaml: unknown key 's1.windw'"):
        load_config(Nested, write(tmp_path, "s1:\n  windw: 5\n"))
    with pytest.raises(UsageError, match=r"command line option --window: key 's1.window'"):
        load_config(Nested, None, {"s1": {"window": "wide"}})
