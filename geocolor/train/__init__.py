"""Training a backend on the prepared store, tracked in MLflow; evaluation and metrics."""
