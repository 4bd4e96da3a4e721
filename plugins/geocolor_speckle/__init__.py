"""Built-in speckle filters."""
