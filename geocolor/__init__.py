"""geocolor: turn Sentinel-1 radar scenes into optical-looking imagery.

The names in ``__all__`` are the public API: ``from geocolor import load_model, ColorizeConfig``.
Each is imported from its stage module on first access (PEP 562), so ``import geocolor``
(which every submodule import runs first) stays cheap and pulls in neither torch, MLflow,
Dask nor rasterio; type checkers see the real imports below.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
#: The name geocolor is published and installed under (``geocolor`` on the package index
#: is another project); the import name and the command stay ``geocolor``.
DISTRIBUTION = "geocolor-sar"

if TYPE_CHECKING:
    from geocolor.colorize.pipeline import ColorizeConfig, ColorizeResult
    from geocolor.config import load_config
    from geocolor.errors import GeocolorError, UsageError
    from geocolor.geo.aoi import load_aoi
    from geocolor.geo.grid import Georeference, Grid
    from geocolor.models.logged import LoadedModel, load_model
    from geocolor.models.model_registry import list_versions, promote
    from geocolor.plugins.hookspecs import hookimpl
    from geocolor.s1.radar_chain import calibrate
    from geocolor.s1.source import open_s1
    from geocolor.s1.speckle import filter_speckle
    from geocolor.train.evaluation import evaluate_model
    from geocolor.train.run_config import TrainConfig
    from geocolor.train.run_hooks import TrainResult

# Public name -> the module defining it (tests hold this, __all__ and the imports above equal). The
# functions colorize and train are not here: their names are the subpackages', and
# importing a subpackage sets that attribute of this module to the package.
_HOMES = {
    "ColorizeConfig": "geocolor.colorize.pipeline",
    "ColorizeResult": "geocolor.colorize.pipeline",
    "load_config": "geocolor.config",
    "GeocolorError": "geocolor.errors",
    "UsageError": "geocolor.errors",
    "load_aoi": "geocolor.geo.aoi",
    "Georeference": "geocolor.geo.grid",
    "Grid": "geocolor.geo.grid",
    "LoadedModel": "geocolor.models.logged",
    "list_versions": "geocolor.models.model_registry",
    "load_model": "geocolor.models.logged",
    "promote": "geocolor.models.model_registry",
    "hookimpl": "geocolor.plugins.hookspecs",
    "calibrate": "geocolor.s1.radar_chain",
    "open_s1": "geocolor.s1.source",
    "filter_speckle": "geocolor.s1.speckle",
    "TrainConfig": "geocolor.train.run_config",
    "TrainResult": "geocolor.train.run_hooks",
    "evaluate_model": "geocolor.train.evaluation",
}

__all__ = [
    "ColorizeConfig",
    "ColorizeResult",
    "GeocolorError",
    "Georeference",
    "Grid",
    "LoadedModel",
    "TrainConfig",
    "TrainResult",
    "UsageError",
    "__version__",
    "calibrate",
    "evaluate_model",
    "filter_speckle",
    "hookimpl",
    "list_versions",
    "load_aoi",
    "load_config",
    "load_model",
    "open_s1",
    "promote",
]


def __getattr__(name: str) -> Any:
    """Import a public name from its stage module on first access and keep it here."""
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module 'geocolor' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
