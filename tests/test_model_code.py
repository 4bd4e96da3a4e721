"""A logged model carries geocolor's code: it loads where geocolor is not installed."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

import mlflow
import numpy as np
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from geocolor import DISTRIBUTION
from geocolor.models.logged import load_model
from geocolor.models.model_code import pip_requirements
from tests.model_factory import NORMALISATION, log_tiny_model

# run with -I -S: neither the checkout nor any site-packages is on sys.path until the
# script adds the copy of site-packages that lacks geocolor
LOAD_WITHOUT_GEOCOLOR = """
import importlib.util, site, sys
site.addsitedir(sys.argv[1])
assert importlib.util.find_spec("geocolor") is None, "geocolor is importable before loading"
import mlflow, numpy as np
model = mlflow.pyfunc.load_model(sys.argv[2])
np.save(sys.argv[4], model.predict(np.load(sys.argv[3])))
import geocolor
print(geocolor.__file__)
"""


def site_packages_without_geocolor(target: Path) -> Path:
    """A folder linking every entry of site-packages except geocolor's installed files.

    For an editable install those are its metadata and the finder that maps the
    import names onto the checkout; for a regular one, the packages too. The
    distribution is looked up in site-packages itself: run from the checkout, the first
    one on ``sys.path`` is setuptools' ``*.egg-info`` beside the sources.
    """
    (dist,) = metadata.distributions(name=DISTRIBUTION, path=[sysconfig.get_path("purelib")])
    site_packages = Path(str(dist.locate_file("")))
    own = {path.parts[0] for path in dist.files or [] if path.parts[0] != ".."}
    assert any(name.endswith(".dist-info") for name in own)
    target.mkdir()
    for entry in site_packages.iterdir():
        if entry.name not in own:
            (target / entry.name).symlink_to(entry)
    return target


def test_logged_model_loads_and_predicts_where_geocolor_is_not_installed(tmp_path: Path) -> None:
    uri = log_tiny_model(f"sqlite:///{tmp_path}/mlflow.db", alias=None)
    folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path)))
    sar = np.random.default_rng(0).uniform(-25, 0, (1, len(NORMALISATION.sar_bands), 24, 20))
    np.save(tmp_path / "sar.npy", sar.astype(np.float32))
    expected = load_model(uri).predict(sar)

    site = site_packages_without_geocolor(tmp_path / "site")
    arguments = [site, folder, tmp_path / "sar.npy", tmp_path / "out.npy"]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", LOAD_WITHOUT_GEOCOLOR, *map(str, arguments)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert (folder / "requirements.txt").read_text().split() == pip_requirements()
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.strip().splitlines()[-1]).is_relative_to(folder / "code")
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


def test_requirements_name_geocolors_dependencies_not_geocolor() -> None:
    names = {canonicalize_name(Requirement(line).name): line for line in pip_requirements()}
    assert not names.keys() & {"geocolor", canonicalize_name(DISTRIBUTION)}
    assert names["torch"].startswith("torch==") and names["mlflow"].startswith("mlflow==")
    declared = {
        canonicalize_name(Requirement(line).name)
        for line in metadata.requires(DISTRIBUTION) or []
        if "extra ==" not in line
    }
    assert declared <= names.keys()
    assert "pytest" not in names
