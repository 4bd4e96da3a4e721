"""Built-in Sentinel-1 scene readers: GRD SAFE products and processed backscatter rasters."""
