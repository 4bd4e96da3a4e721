"""Built-in Sentinel-1 scene readers: GRD SAFE products, processed rasters, band-file folders."""
