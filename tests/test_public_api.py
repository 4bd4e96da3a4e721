"""``import geocolor`` is cheap and every name of its public API resolves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import geocolor

INIT = Path(geocolor.__file__)
HEAVY = ("torch", "mlflow", "dask", "rasterio")


def test_every_public_name_resolves_from_its_home() -> None:
    for name in geocolor.__all__:
        value = getattr(geocolor, name)
        home = geocolor._HOMES.get(name)
        if home is not None:
            assert getattr(sys.modules[home], name) is value
    assert set(geocolor.__all__) == {"__version__", *geocolor._HOMES}


def test_no_public_name_is_a_submodule_name() -> None:
    # importing geocolor.X sets attribute X of the package: a function called X would be
    # replaced by the module whenever that was imported first
    submodules = {path.stem for path in INIT.parent.iterdir() if path.name != "__init__.py"}
    assert not set(geocolor.__all__) & submodules


def test_dir_lists_the_public_names() -> None:
    assert set(geocolor.__all__) <= set(dir(geocolor))


def test_unknown_name_is_an_attribute_error() -> None:
    assert not hasattr(geocolor, "no_such_name")


def test_type_checkers_see_the_same_names_and_homes() -> None:
    tree = ast.parse(INIT.read_text())
    guarded = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    assert len(guarded) == 1
    seen = {
        alias.name: node.module
        for node in guarded[0].body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert seen == geocolor._HOMES


def test_stages_are_imported_only_for_type_checkers() -> None:
    top_level = [
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.parse(INIT.read_text()).body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    ]
    assert not [module for module in top_level if module and module.startswith("geocolor")]


def test_import_geocolor_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, geocolor\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == ""
