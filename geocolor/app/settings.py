"""Settings of the map app: a YAML file named by ``GEOCOLOR_APP_CONFIG``, then env vars.

The app runs in places with no command line (a container, Cloud Run), so every knob a
deployment turns — tracking server, model, scene source, upload cap, scratch folder —
is read here and nowhere else; environment variables win over the file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pydantic

from geocolor.config import Config, Precision, read_yaml
from geocolor.errors import UsageError

#: Environment variable naming the optional YAML settings file.
CONFIG_VARIABLE = "GEOCOLOR_APP_CONFIG"

#: Setting -> environment variables that set it, the first one set wins.
ENVIRONMENT = {
    "mlflow_uri": ("GEOCOLOR_MLFLOW_URI", "MLFLOW_TRACKING_URI"),
    "model_name": ("GEOCOLOR_MODEL_NAME",),
    "model_alias": ("GEOCOLOR_MODEL_ALIAS",),
    "scenes": ("GEOCOLOR_SCENES",),
    "max_upload_mb": ("GEOCOLOR_MAX_UPLOAD_MB",),
    "workdir": ("GEOCOLOR_WORKDIR",),
    "max_workdir_mb": ("GEOCOLOR_MAX_WORKDIR_MB",),
    "basemap_url": ("GEOCOLOR_BASEMAP_URL",),
    "basemap_attribution": ("GEOCOLOR_BASEMAP_ATTRIBUTION",),
    "precision": ("GEOCOLOR_PRECISION",),
}

#: The base map unless settings name another: OpenStreetMap's standard tiles.
OPENSTREETMAP = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


class AppSettings(Config):
    """What a deployment of the app is pointed at.

    Attributes
    ----------
    mlflow_uri
        Tracking server; ``None`` for a SQLite ``mlflow.db`` in ``workdir`` (never one
        in whatever folder the app happens to start in).
    model_name, model_alias
        The registered model and alias selected when the app opens.
    scenes
        Folder or ``gs://`` prefix whose scenes are offered for picking; ``None`` for
        uploads only.
    max_upload_mb
        Largest upload accepted, in MiB; extracted archives may be four times larger.
    workdir
        Scratch folder for uploads and results (results are kept and reused).
    max_workdir_mb
        Most MiB the uploads and results may fill together; past it the least recently
        used go, never those of a running job.
    basemap_url, basemap_attribution
        XYZ tile URL template of the base map and the credit shown for it; ``none``
        for a plain background (a network without the tile server still shows the
        scene, the AOI and the results).
    precision
        Inference precision of colorizations (``colorize --precision``): ``auto`` keeps
        bf16 or int8 where they are faster and within tolerance of fp32.
    """

    mlflow_uri: str | None = None
    model_name: str = "geocolor"
    model_alias: str = "prod-candidate"
    scenes: str | None = None
    max_upload_mb: int = pydantic.Field(default=2048, gt=0)
    workdir: Path = Path(tempfile.gettempdir()) / "geocolor-app"
    max_workdir_mb: int = pydantic.Field(default=10240, gt=0)

    @property
    def tracking_uri(self) -> str:
        """The tracking server the app reads models from."""
        return self.mlflow_uri or f"sqlite:///{self.workdir / 'mlflow.db'}"

    basemap_url: str | None = OPENSTREETMAP
    basemap_attribution: str = "&copy; OpenStreetMap contributors"
    precision: Precision = "fp32"

    @pydantic.field_validator("basemap_url")
    @classmethod
    def _none_is_no_basemap(cls, url: str | None) -> str | None:
        return None if url is None or url.strip().lower() in ("", "none") else url

    @property
    def results(self) -> Path:
        """Folder of colorized results, served to the map as tiles."""
        return self.workdir / "results"

    @property
    def uploads(self) -> Path:
        """Folder of accepted uploads."""
        return self.workdir / "uploads"


def load_settings(environ: Mapping[str, str] | None = None) -> AppSettings:
    """Settings from the file ``GEOCOLOR_APP_CONFIG`` names, overridden by env vars.

    Raises
    ------
    UsageError
        Naming the file or the environment variable holding a bad value.
    """
    environ = os.environ if environ is None else environ
    path = environ.get(CONFIG_VARIABLE)
    values = read_yaml(path) if path else {}
    from_env: dict[str, str] = {}
    for key, names in ENVIRONMENT.items():
        name = next((name for name in names if environ.get(name)), None)
        if name is not None:
            values[key] = environ[name]
            from_env[key] = name
    try:
        return AppSettings.model_validate(values)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        where = from_env.get(key) or path or "app settings"
        if error["type"] == "extra_forbidden":
            raise UsageError(f"{where}: unknown app setting {key!r}") from None
        raise UsageError(
            f"{where}: setting {key!r}: {error['msg']} (got {error.get('input')!r})"
        ) from None
