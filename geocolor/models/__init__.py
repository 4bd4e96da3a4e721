"""Backend contract, network parts, normalisation and logged models; no store, no training."""
