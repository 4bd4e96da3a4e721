"""Public paired SAR/optical datasets (BigEarthNet, SEN12MS...) imported into a training store."""
