"""The code a logged model carries and names, so that a fresh environment can load it.

geocolor's distribution is not on the public package index (``geocolor`` there is another
project), so a logged model cannot ask pip for it. Instead it carries geocolor's own
packages (the library and the built-in plugins its entry points name) beside a copy of
the distribution's metadata, laid out as an installed wheel is. MLflow puts that folder
first on ``sys.path`` when it loads the model, so ``mlflow.pyfunc.load_model`` works where
geocolor is not installed, and the built-in backends are found through the carried entry
points exactly as through installed ones. The pip requirements are geocolor's own
dependencies, with torch and MLflow pinned to the versions that logged the model.
"""

from __future__ import annotations

import importlib.util
import subprocess
from importlib import metadata
from pathlib import Path

import mlflow
import torch
from packaging.requirements import Requirement

from geocolor import DISTRIBUTION
from geocolor.errors import GeocolorError
from geocolor.plugins import hookspecs

#: Metadata files of the distribution that loading needs: its name and version, and the
#: entry points that declare the built-in plugins. Each is written under its installed-wheel
#: name, read from the first source name present: run from a source checkout, the
#: distribution found may be setuptools' ``*.egg-info``, whose core metadata is ``PKG-INFO``.
CARRIED_METADATA = {"METADATA": ("METADATA", "PKG-INFO"), "entry_points.txt": ("entry_points.txt",)}


def code_paths(folder: Path) -> list[str]:
    """Folders to log as the model's code: geocolor's packages and its metadata.

    Parameters
    ----------
    folder
        An empty scratch folder the distribution's metadata is written into; it must
        live until the model is logged.
    """
    dist = metadata.distribution(DISTRIBUTION)
    info = folder / f"{DISTRIBUTION.replace('-', '_')}-{dist.version}.dist-info"
    info.mkdir()
    for name, sources in CARRIED_METADATA.items():
        text = next(filter(None, map(dist.read_text, sources)), None)
        if text is None:
            raise GeocolorError(f"the installed {DISTRIBUTION} has none of {', '.join(sources)}")
        (info / name).write_text(text)
    plugins = {ep.module.split(".")[0] for ep in dist.entry_points.select(group=hookspecs.PROJECT)}
    return [_package_folder(name) for name in ["geocolor", *sorted(plugins)]] + [str(info)]


def pip_requirements() -> list[str]:
    """geocolor's dependencies, torch and MLflow pinned to the running versions."""
    pinned = {"torch": torch.__version__.split("+")[0], "mlflow": mlflow.__version__}
    requirements = [f"{name}=={version}" for name, version in pinned.items()]
    for line in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        # extras (dev, bench) carry a marker: a served model needs none of them
        if requirement.marker is None and requirement.name not in pinned:
            requirements.append(str(requirement))
    return requirements


def git_commit() -> str:
    """The commit of the geocolor checkout running this, or ``"unknown"``."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return done.stdout.strip()


def _package_folder(name: str) -> str:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin is not None, f"package {name} is not importable"
    return str(Path(spec.origin).parent)
