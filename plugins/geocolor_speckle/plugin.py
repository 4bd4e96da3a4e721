"""Registers the built-in speckle filters."""
