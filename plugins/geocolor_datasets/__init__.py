"""Built-in public dataset readers for ``geocolor import``.

BigEarthNet, SEN12MS, SEN1-2 and Sen1Floods11.
"""
