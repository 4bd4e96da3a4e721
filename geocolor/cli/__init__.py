"""The ``geocolor`` command line: one module per command group."""

from geocolor.cli.main import main

__all__ = ["main"]
