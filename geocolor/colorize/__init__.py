"""Colorizing a whole scene tile by tile, seam-free, into a COG."""
