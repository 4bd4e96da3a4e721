"""Built-in data source: the Sentinel Hub Catalog and Process APIs."""
