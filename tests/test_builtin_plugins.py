"""The built-in plugins are written as a third party would write them.

Each imports only geocolor's modules and its own, never another plugin's internals, and
the modules registered as entry points load without torch (the CLI loads every plugin).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from geocolor import DISTRIBUTION

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PACKAGES = sorted(path.name for path in PLUGINS.iterdir() if (path / "__init__.py").exists())


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
    return roots


@pytest.mark.parametrize("package", PACKAGES)
def test_plugin_imports_only_geocolor_and_itself(package: str) -> None:
    others = set(PACKAGES) - {package}
    wrong = {
        f"{path.name} imports {root}"
        for path in sorted((PLUGINS / package).glob("*.py"))
        for root in _imported_roots(path) & others
    }
    assert PACKAGES and not wrong


def test_registered_plugin_modules_load_without_torch() -> None:
    modules = sorted(
        ep.value
        for ep in metadata.entry_points(group="geocolor")
        if ep.dist is not None and ep.dist.metadata["Name"] == DISTRIBUTION
    )
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert len(modules) >= 3
    assert done.stdout.strip() == "False"
