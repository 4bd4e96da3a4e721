"""Install throwaway plugin distributions for tests, as pip would lay them out."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_plugin(site: Path, dist: str, module: str, source: str, version: str = "1.0") -> None:
    """Write ``module.py`` and a ``dist-info`` declaring it in the ``geocolor`` group.

    Parameters
    ----------
    site
        A folder that the test puts on ``sys.path`` (or ``PYTHONPATH``).
    dist
        Distribution name, e.g. ``geocolor-example``.
    module
        Import name of the plugin module, also its entry-point name.
    source
        The module's code.
    """
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[geocolor]\n{module} = {module}\n")
    (info / "RECORD").write_text("")
