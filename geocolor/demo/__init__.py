"""Synthetic, format-faithful Sentinel products over a synthetic land-cover world."""
