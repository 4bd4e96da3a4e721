"""Plugin hook specifications, the plugin manager and the registries plugins fill.

A plugin needs two names, both importable from here::

    from geocolor.plugins import Registry, hookimpl

``hookimpl`` marks its hook implementations and :class:`Registry` is what each
``geocolor_register_*`` hook receives (``geocolor_register_commands`` receives the click
group). Both modules are light, so a plugin's registering module stays cheap to load.
"""

from geocolor.plugins.hookspecs import hookimpl
from geocolor.plugins.registry import Registry

__all__ = ["Registry", "hookimpl"]
