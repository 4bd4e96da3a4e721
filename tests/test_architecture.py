"""The package's shape: stages import only the stages below them, no circles, small modules.

The layering is read from the source (every ``import``, also those inside functions), so a
lazy import cannot hide a dependency that the design forbids.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "geocolor"

# modules every stage may use: the error type, typed config, progress and the plugin manager
BASE = {"__init__", "__version__", "DISTRIBUTION", "errors", "config", "progress", "plugins"}
# stage -> the stages it may import (besides itself and BASE)
ALLOWED: dict[str, set[str]] = {
    "geo": set(),
    "io": {"geo"},
    "s1": {"geo", "io"},
    "s2": {"geo", "io"},
    "acquire": {"geo", "io", "s1", "s2"},
    "prepare": {"geo", "io", "s1", "s2"},
    "datasets": {"geo", "io", "s1", "s2", "prepare"},
    "models": {"geo", "io"},
    "train": {"geo", "io", "s1", "s2", "prepare", "models"},
    "colorize": {"geo", "io", "s1", "s2", "models"},
    "app": {"geo", "io", "s1", "s2", "models", "colorize"},
    "cli": {"geo", "io", "s1", "s2", "acquire", "prepare", "models", "train", "colorize", "app"}
    | {"demo", "datasets"},
    "demo": {"geo", "io"},
}
# the public API (geocolor/__init__.py) resolves names from every stage lazily
FACADE = "geocolor"
# the synthetic data generators may be long: they spell out product formats and a world
LONG_MODULES = {"demo/s1.py", "demo/s2.py", "demo/landcover.py"}
MAX_LINES = 500


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        yield name, path


def _imports(path: Path, name: str) -> Iterator[tuple[str, bool]]:
    """Imported geocolor modules, each with whether it runs at import time."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.rsplit(".", node.level)[0]
                target = f"{package}.{node.module}" if node.module else package
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] == "geocolor":
                yield target, id(node) in top_level


def _stage(module: str) -> str:
    parts = module.split(".")
    first = parts[1] if len(parts) > 1 else "__init__"
    return "base" if first in BASE else first


def test_every_stage_is_known() -> None:
    stages = {_stage(name) for name, _ in _modules()} - {"base"}
    assert stages == set(ALLOWED)


def test_stages_import_only_the_stages_below_them() -> None:
    wrong = []
    for name, path in _modules():
        if name == FACADE:
            continue  # it may name every stage, for type checkers only (tests/test_public_api.py)
        stage = _stage(name)
        allowed = ALLOWED.get(stage, set()) | {stage, "base"}
        if stage == "base":
            allowed = {"base"}
        for target, _ in _imports(path, name):
            if _stage(target) not in allowed:
                wrong.append(f"{name} imports {target}")
    assert not wrong, "\n".join(wrong)


def test_no_import_circles_between_modules() -> None:
    known = {name for name, _ in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in _modules():
        graph[name] = {
            target for target, at_import in _imports(path, name) if at_import and target in known
        } - {name}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join([*trail[trail.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_modules_stay_small() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for _, path in _modules()
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
        and str(path.relative_to(PACKAGE)) not in LONG_MODULES
    }
    assert not long


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("geocolor.colorize.pipeline", ("zarr", "geocolor.prepare", "geocolor.train")),
        ("geocolor.app.logic", ("zarr", "geocolor.prepare", "geocolor.train")),
        ("geocolor.models.logged", ("zarr", "geocolor.prepare", "geocolor.train")),
        ("geocolor.models.normalisation", ("zarr", "geocolor.prepare", "geocolor.train")),
    ],
)
def test_inference_side_imports_no_store_or_training(module: str, absent: tuple[str, ...]) -> None:
    code = (
        f"import sys, {module}\n"
        f"found = [m for m in sys.modules if m.split('.')[0] in {absent!r} "
        f"or any(m.startswith(p) for p in {absent!r})]\n"
        "print(','.join(sorted(found)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
