"""Plugin hook specifications, the plugin manager and the registries plugins fill."""
