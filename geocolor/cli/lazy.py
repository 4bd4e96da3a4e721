"""A click group that imports a command's module only when that command is used.

The command modules import torch, MLflow, Dask and Sentinel Hub, seconds of CPU that
``geocolor --version`` or ``geocolor --help`` should not pay. So the group knows each core
command's name, one-line help and defining ``module:attribute`` up front (click's
"lazily loading subcommands" pattern), and asks for the commands it does not know
(the plugins') only when a listing or an unknown name needs them.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import click


@dataclass(frozen=True)
class LazyCommand:
    """A command known by where it is defined and its one-line help, not yet imported.

    Parameters
    ----------
    target
        ``"package.module:attribute"`` of the :class:`click.Command`.
    short_help
        The line ``--help`` shows; tests hold it equal to the command's own.
    """

    target: str
    short_help: str

    def load(self) -> click.Command:
        """Import the defining module and return the command."""
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.target} is a {type(command).__name__}, not a click command")
        return command


class LazyGroup(click.Group):
    """A group whose core commands are imported on first use and whose extra commands
    (added by ``add_more_commands``) are asked for only when needed.

    Parameters
    ----------
    lazy_commands
        Core commands by name.
    add_more_commands
        Called once with the group, before a listing or the lookup of a name that is
        neither core nor already added; it adds commands with :meth:`add_command`.
    """

    def __init__(
        self,
        *args: Any,
        lazy_commands: Mapping[str, LazyCommand] | None = None,
        add_more_commands: Callable[[click.Group], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})
        self.add_more_commands = add_more_commands
        self._more_added = False

    def fresh_copy(self) -> LazyGroup:
        """A copy with its own command table, its extra commands not yet asked for."""
        group = copy.copy(self)
        group.commands = dict(self.commands)
        group._more_added = False
        return group

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Add ``cmd``, refusing the name of a core command (it would win or lose by timing)."""
        name = name or cmd.name
        if name in self.lazy_commands:
            raise ValueError(f"command {name!r} is already a core command")
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command's name, the extra ones included."""
        self._add_more()
        return sorted({*self.commands, *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command ``cmd_name``, importing only its own module."""
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            self.commands[cmd_name] = self.lazy_commands[cmd_name].load()
        if cmd_name not in self.commands:
            self._add_more()
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The "Commands" section, with the core commands' help from the table."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                command = self.commands[name]
            else:
                # a stand-in carrying the table's line, so the listing imports nothing
                command = click.Command(name, help=self.lazy_commands[name].short_help)
            if not command.hidden:
                rows.append((name, command))
        if not rows:
            return
        limit = formatter.width - 6 - max(len(name) for name, _ in rows)
        with formatter.section("Commands"):
            formatter.write_dl([(name, cmd.get_short_help_str(limit)) for name, cmd in rows])

    def _add_more(self) -> None:
        if self._more_added or self.add_more_commands is None:
            return
        self._more_added = True
        self.add_more_commands(self)
