"""Sentinel-1 GRD: SAFE, calibration, thermal noise, speckle, radar chain, georeferencing."""
