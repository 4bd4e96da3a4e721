"""Paired, co-registered S1/S2 training tiles from full scenes into a Zarr store."""
