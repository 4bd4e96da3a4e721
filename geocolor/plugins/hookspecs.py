"""Hook specifications of the ``geocolor`` plugin project.

Each hook receives a registry (or the CLI group) and adds to it, as tox's
``tox_register_tox_env(register)`` does, so a plugin stays a few declarative lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

    from geocolor.plugins.registry import Registry

PROJECT = "geocolor"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def geocolor_register_backends(registry: Registry[Any]) -> None:
    """Add model backends (image-translation networks) to ``registry``."""


@hookspec
def geocolor_register_speckle_filters(registry: Registry[Any]) -> None:
    """Add speckle filters, each declaring its halo, to ``registry``."""


@hookspec
def geocolor_register_readers(registry: Registry[Any]) -> None:
    """Add scene readers, each with a ``can_open(path)`` test, to ``registry``."""


@hookspec
def geocolor_register_sources(registry: Registry[Any]) -> None:
    """Add data sources (remote catalogues, local folders) to ``registry``."""


@hookspec
def geocolor_register_dataset_readers(registry: Registry[Any]) -> None:
    """Add public dataset readers (``geocolor import DATASET``) to ``registry``."""


@hookspec
def geocolor_register_commands(cli: click.Group) -> None:
    """Add click commands to the ``geocolor`` command group."""
