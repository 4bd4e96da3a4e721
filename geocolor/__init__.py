"""geocolor: turn Sentinel-1 radar scenes into optical-looking imagery."""

__version__ = "0.1.0"
