"""Sentinel-2 L2A products: reflectance and the scene-classification mask."""
