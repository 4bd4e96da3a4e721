"""The built-in plugins are written as a third party would write them.

Each imports only geocolor's modules and its own, never another plugin's internals, and
loading them (as every command listing does) imports no heavy library.
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
BUILTIN_PLUGINS = {
    ep.name
    for ep in metadata.entry_points(group="geocolor")
    if ep.dist is not None and ep.dist.metadata["Name"] == DISTRIBUTION
}
# libraries whose import costs a listing tenths of a second: plugins import them on first use
HEAVY = {"dask", "mlflow", "numba", "rasterio", "scipy", "torch", "xarray", "zarr"}


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


def test_loading_every_plugin_for_a_listing_imports_no_heavy_library() -> None:
    # what ``geocolor --help`` and ``geocolor plugins`` do: import each registering module,
    # call the registering hooks and let plugins add their commands
    code = (
        "import sys, click\n"
        "from geocolor.plugins.manager import load_plugins\n"
        "plugins = load_plugins(autoload=False)\n"
        "plugins.register_commands(click.Group())\n"
        "print(','.join(sorted(plugins.origins)))\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    loaded, heavy = done.stdout.splitlines()
    assert len(BUILTIN_PLUGINS) >= 3
    assert set(loaded.split(",")) == BUILTIN_PLUGINS
    assert heavy == ""
