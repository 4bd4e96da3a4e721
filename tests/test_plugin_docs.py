"""docs/plugins.md works as printed: its example plugins build, install, register and run.

Every fenced ``python`` or ``toml`` block of the page whose first line is ``# PATH`` is a
file of an example project (``PATH`` starts with the project's folder). Each project is
built into a wheel by pip from its ``pyproject.toml`` and the wheel unpacked into a
throwaway site folder, as pip installs a pure-Python wheel; the projects' own tests, as
the page prints them, then run under pytest, and the plugins run through geocolor's S1
chain, training driver and CLI.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from geocolor.cli import main
from geocolor.demo.s1 import true_sigma0, write_synthetic_s1
from geocolor.models.logged import load_model
from geocolor.plugins.manager import AUTOLOAD_ENV, get_plugins
from geocolor.train.loop import train
from tests.test_dataset import synthetic_pair, write_synthetic_store
from tests.test_train import quick_config, use_fresh_tracking

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
FILE_BLOCK = re.compile(
    r"^```(?:python|toml)\n# (?P<path>[\w./-]+)\n(?P<body>.*?)^```$", re.M | re.S
)
PROJECTS = {"geocolor-kuan", "geocolor-baseline", "geocolor-halo"}
# what the page tells authors to keep out of a registering module
HEAVY = {"dask", "mlflow", "numba", "rasterio", "scipy", "torch", "zarr"}


def documented_files() -> dict[Path, str]:
    """Relative path -> content of every file the page prints."""
    return {
        Path(match["path"]): f"# {match['path']}\n{match['body']}"
        for match in FILE_BLOCK.finditer(DOC.read_text())
    }


def install_wheel(project: Path, site: Path) -> None:
    """Build ``project``'s wheel with pip, offline, and unpack it into ``site``."""
    wheels = project.parent / "wheels"
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index"]
    command += ["--no-build-isolation", "--wheel-dir", str(wheels), str(project)]
    subprocess.run(
        command,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = wheels.glob(f"{project.name.replace('-', '_')}-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The page's example projects, written out; the wheels are installed by ``site``."""
    root = tmp_path_factory.mktemp("projects")
    for path, content in documented_files().items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(content)
    return root


@pytest.fixture(scope="module")
def site(projects: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site-packages")
    for name in sorted(PROJECTS):
        install_wheel(projects / name, folder)
    return folder


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The example distributions importable and autoloaded, as after ``pip install``."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(AUTOLOAD_ENV, raising=False)
    get_plugins.cache_clear()
    yield site
    get_plugins.cache_clear()


def plugin_environment(site: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop(AUTOLOAD_ENV, None)
    return env


def test_the_page_prints_three_whole_projects() -> None:
    files = documented_files()
    assert {path.parts[0] for path in files} == PROJECTS
    for project in PROJECTS:
        assert Path(project, "pyproject.toml") in files
        assert any(path.parts[1] == "tests" for path in files if path.parts[0] == project)


def test_geocolor_plugins_lists_the_examples_with_their_distributions(
    installed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plugins"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    for row in (
        ["speckle", "filter", "kuan", "geocolor-kuan", "0.1.0"],
        ["model", "backend", "baseline", "geocolor-baseline", "0.1.0"],
        ["command", "halo", "geocolor-halo", "0.1.0"],
    ):
        assert row in rows


def test_samples_take_the_plugin_names_from_geocolor_plugins() -> None:
    homes = {
        alias.name: node.module
        for path, content in documented_files().items()
        if path.suffix == ".py"
        for node in ast.walk(ast.parse(content))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name in {"hookimpl", "Registry"}
    }
    assert homes == {"hookimpl": "geocolor.plugins", "Registry": "geocolor.plugins"}


def test_registering_modules_load_without_heavy_libraries(site: Path) -> None:
    code = (
        "import sys, geocolor_kuan, geocolor_baseline.plugin, geocolor_halo\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=plugin_environment(site),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert done.stdout.strip() == "[]"


def test_the_projects_own_tests_pass(projects: Path, site: Path) -> None:
    folders = [str(projects / name / "tests") for name in sorted(PROJECTS)]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *folders],
        cwd=projects,
        env=plugin_environment(site),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_kuan_runs_in_the_s1_chain_and_brings_speckle_towards_the_truth(
    installed: Path, tmp_path: Path
) -> None:
    lines, samples = 240, 320
    product = write_synthetic_s1(tmp_path, lines=lines, samples=samples, seed=5)
    outputs = {}
    for speckle in ("kuan", "none"):
        out = tmp_path / f"{speckle}.tif"
        args = ["--quiet", "process-s1", str(product), "-o", str(out), "--grid", "radar"]
        options = ["--pol", "VV", "--linear", "--speckle", speckle, "--window", "5"]
        assert main([*args, *options, "--looks", "4.4"]) == 0
        with rasterio.open(out) as src:
            outputs[speckle] = src.read(1)
    truth = true_sigma0(product, "VV", Window(0, 0, samples, lines))
    valid = np.isfinite(outputs["none"]) & (truth > 0)
    np.testing.assert_array_equal(np.isfinite(outputs["kuan"]), np.isfinite(outputs["none"]))

    def log_error(image: np.ndarray) -> float:
        return float(np.median(np.abs(np.log(image[valid] / truth[valid]))))

    assert log_error(outputs["kuan"]) < 0.4 * log_error(outputs["none"])
    assert np.mean(outputs["kuan"][valid]) == pytest.approx(np.mean(outputs["none"][valid]), 0.02)


def test_baseline_trains_in_the_driver_and_loads_from_the_registry(
    installed: Path,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_fresh_tracking(tmp_path, tmp_path_factory, monkeypatch)
    store = write_synthetic_store(tmp_path / "store.zarr")
    config = quick_config(
        backend="baseline",
        backend_options={"width": 4, "depth": 2},
        epochs=1,
        steps_per_epoch=1,
        model_name="baseline",
    )
    result = train(store, config)
    model = load_model(result.model_uri)
    assert (model.backend, model.receptive_field, model.size_multiple) == ("baseline", 2, 1)
    sar, _, _ = synthetic_pair(40, 56, seed=9)
    reflectance = model.predict(sar[None])
    assert reflectance.shape == (1, 3, 40, 56) and reflectance.dtype == np.float32
    assert np.isfinite(reflectance).any()
