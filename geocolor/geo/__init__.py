"""Grids, georeferences, CRS choice and areas of interest: the geometry every stage shares."""
