"""Discovery and loading of geocolor plugins (pluggy project ``geocolor``).

Built-in plugins live under ``plugins/`` and are declared in the ``geocolor`` entry-point
group of geocolor's own distribution (:data:`geocolor.DISTRIBUTION`), exactly as a
third-party plugin declares them, so the core never imports a plugin by name.
``GEOCOLOR_DISABLE_PLUGIN_AUTOLOAD=1`` skips every entry point that does not belong to
geocolor (as pytest's ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` does).
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

import pluggy

from geocolor import DISTRIBUTION
from geocolor.errors import GeocolorError
from geocolor.plugins import hookspecs
from geocolor.plugins.registry import Registry

if TYPE_CHECKING:
    import click

AUTOLOAD_ENV = "GEOCOLOR_DISABLE_PLUGIN_AUTOLOAD"
BUILTIN = "built-in"


@dataclass
class Plugins:
    """Everything the loaded plugins registered, with where each plugin came from."""

    manager: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)
    backends: Registry[Any] = field(default_factory=lambda: Registry("model backend"))
    speckle_filters: Registry[Any] = field(default_factory=lambda: Registry("speckle filter"))
    readers: Registry[Any] = field(default_factory=lambda: Registry("reader"))
    sources: Registry[Any] = field(default_factory=lambda: Registry("data source"))
    dataset_readers: Registry[Any] = field(default_factory=lambda: Registry("dataset"))
    command_origins: dict[str, str] = field(default_factory=dict)

    def registries(self) -> dict[str, Registry[Any]]:
        """The registries keyed by the hook that fills each."""
        return {
            "geocolor_register_backends": self.backends,
            "geocolor_register_speckle_filters": self.speckle_filters,
            "geocolor_register_readers": self.readers,
            "geocolor_register_sources": self.sources,
            "geocolor_register_dataset_readers": self.dataset_readers,
        }

    def register_commands(self, cli: click.Group) -> None:
        """Let each plugin add commands to ``cli``, remembering which plugin added which."""
        for impl in _in_registration_order(self.manager, "geocolor_register_commands"):
            before = set(cli.commands)
            _call_impl(impl, "geocolor_register_commands", cli)
            for name in set(cli.commands) - before:
                self.command_origins[name] = impl.plugin_name


def autoload_enabled() -> bool:
    """Whether third-party plugins are loaded (the environment can turn it off)."""
    return os.environ.get(AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes"}


def _origin(dist: metadata.Distribution | None) -> str:
    if dist is None:
        return "unknown distribution"
    if _is_own(dist):
        return BUILTIN
    return f"{dist.metadata['Name']} {dist.version}"


def _is_own(dist: metadata.Distribution | None) -> bool:
    return dist is not None and dist.metadata["Name"].lower() == DISTRIBUTION


def _in_registration_order(manager: pluggy.PluginManager, hook: str) -> list[Any]:
    # get_hookimpls() lists plugins in registration order, built-ins first, so a
    # duplicate name blames the later (third-party) plugin.
    return list(getattr(manager.hook, hook).get_hookimpls())


def _call_impl(impl: Any, hook: str, argument: Any) -> None:
    try:
        impl.function(argument)
    except GeocolorError:
        raise
    except Exception as exc:
        raise GeocolorError(
            f"plugin {impl.plugin_name!r} failed in {hook}: {type(exc).__name__}: {exc}"
        ) from exc


def load_plugins(autoload: bool | None = None) -> Plugins:
    """Load built-in and (unless disabled) third-party plugins and fill the registries.

    Parameters
    ----------
    autoload
        Load third-party entry points; defaults to :func:`autoload_enabled`.

    Raises
    ------
    GeocolorError
        Naming the plugin when one fails to import, uses a misspelt hook, clashes with
        another plugin's name, or registers a name twice.
    """
    if autoload is None:
        autoload = autoload_enabled()
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager)
    entry_points = sorted(
        metadata.entry_points(group=hookspecs.PROJECT),
        key=lambda ep: (not _is_own(ep.dist), ep.name),
    )
    for ep in entry_points:
        if not autoload and not _is_own(ep.dist):
            continue
        origin = _origin(ep.dist)
        if ep.name in plugins.origins:
            raise GeocolorError(
                f"plugin {ep.name!r} from {origin} clashes with the plugin of that name "
                f"from {plugins.origins[ep.name]}"
            )
        try:
            module = ep.load()
        except Exception as exc:
            raise GeocolorError(
                f"plugin {ep.name!r} from {origin} failed to load: "
                f"{type(exc).__name__}: {exc} (set {AUTOLOAD_ENV}=1 to skip third-party plugins)"
            ) from exc
        manager.register(module, name=ep.name)
        plugins.origins[ep.name] = origin
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:
        name = manager.get_name(exc.plugin) or repr(exc.plugin)
        raise GeocolorError(f"plugin {name!r}: {exc}") from exc
    for hook, registry in plugins.registries().items():
        for impl in _in_registration_order(manager, hook):
            registry.set_plugin(impl.plugin_name)
            _call_impl(impl, hook, registry)
    return plugins


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugin set, loaded on first use."""
    return load_plugins()
