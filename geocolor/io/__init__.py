"""Filesystems (local and fsspec URLs), COG writing and publishing, Dask helpers."""
