"""Built-in public dataset readers for ``geocolor import``: BigEarthNet and SEN12MS."""
