"""Names of the backscatter measures, importable without the chains that make them.

``gamma0`` is ellipsoid γ⁰ (σ⁰ over the cosine of the ellipsoid incidence, from the
calibration LUT); ``gamma0-rtc`` is terrain-flattened γ⁰ (Small 2011), what Sentinel
Hub's ``GAMMA0_TERRAIN`` and Planetary Computer's ``sentinel-1-rtc`` hold. The name
travels with the data into stores and models, so the two are never confused.
"""

RTC_MEASURE = "gamma0-rtc"
"""The ``measure`` that asks for terrain-flattened γ⁰."""
