"""geocolor: turn Sentinel-1 radar scenes into optical-looking imagery."""

__version__ = "0.1.0"
#: The name geocolor is published and installed under (``geocolor`` on the package index
#: is another project); the import name and the command stay ``geocolor``.
DISTRIBUTION = "geocolor-sar"
