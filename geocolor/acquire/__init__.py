"""Finding and downloading scenes: data sources, catalog search, fetch."""
