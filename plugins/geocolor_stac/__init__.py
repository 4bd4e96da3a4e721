"""Built-in data source and scene reader: STAC APIs and STAC Items."""
