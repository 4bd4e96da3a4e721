"""Bringing a processed scene to the state the model's training data was in, or refusing.

A raw product goes through the same Sentinel-1 chain as the training data, so it needs
nothing here. A processed raster arrives as some processor left it, and its tags say
how (:func:`geocolor.s1.conventions.recorded_processing`):

- dB and linear power are converted into each other (the raster reader does it);
- sigma0, beta0, gamma0 (ellipsoid) and gamma0-rtc (terrain-flattened) are not (that
  needs the incidence angle and the terrain), so another measure than the model's is
  refused; a GRD product is flattened only with the DEM the model records
  (:func:`check_chain_settings`);
- bands without descriptions (a public dataset's own files: BigEarthNet's ``_VV.tif``
  and ``_VH.tif``, SEN12MS's two-band ``_s1_`` patches) are taken to hold what the
  model was trained on, in its measure and unit, polarisations as the files are named
  or else in the model's band order; a count of bands that leaves the order open, or
  values that cannot be in the model's unit, are refused (:func:`described_scene`);
- speckle: an unfiltered raster gets the model's filter when the training data was
  filtered; a filtered one fed to a model trained on unfiltered data is refused, as
  filtering cannot be undone; a raster that does not say is used as it is, never
  filtered on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.s1.backscatter import S1Config
from geocolor.s1.measures import RTC_MEASURE
from geocolor.s1.speckle import NO_FILTER

log = logging.getLogger("geocolor.colorize.conventions")

Source = TypeVar("Source")


def described_scene(source: Source, config: S1Config, path: str) -> Source:
    """``source`` with its undescribed bands described as the model's training data.

    A source whose bands are all described is returned as it is. Otherwise its bands
    are taken to hold ``config.measure`` in ``config``'s unit: a band file as the
    polarisation it was given as (its ``polarisations``), the bands of one raster as
    the model's polarisations in the model's order, which needs as many bands as the
    model reads. Sources that can be described have ``described_as`` and ``overview``
    (:class:`geocolor.s1.raster.BackscatterRaster`, :class:`geocolor.s1.band_files.BandFiles`).

    Raises
    ------
    GeocolorError
        One line, when the bands are partly described, their count leaves their order
        open, or their values cannot be in the model's unit (linear power is never
        negative; dB backscatter over a scene is negative somewhere).
    """
    descriptions = tuple(getattr(getattr(source, "info", None), "descriptions", ()) or ())
    if all(descriptions) or not hasattr(source, "described_as"):
        return source
    if any(descriptions):
        raise GeocolorError(f"{path}: some bands are described and some not; describe them all")
    unit = "dB" if config.db else "linear"
    trained = tuple(config.polarisations or ())
    polarisations: tuple[str, ...] = tuple(getattr(source, "polarisations", None) or trained)
    if len(polarisations) != len(descriptions):
        wanted = ", ".join(trained) or "bands it does not name"
        raise GeocolorError(
            f"{path}: {len(descriptions)} bands without descriptions, the model reads"
            f" {wanted}; give one file per polarisation (--vv FILE --vh FILE) or describe"
            " the bands like 'VV sigma0 dB'"
        )
    _check_unit(source.overview(), config.db, path)  # type: ignore[attr-defined]
    texts = tuple(f"{pol.upper()} {config.measure} {unit}" for pol in polarisations)
    log.info(
        "%s: bands not described, read as %s (the model's conventions)", path, ", ".join(texts)
    )
    described: Source = source.described_as(texts)
    return described


def _check_unit(overview: np.ndarray, db: bool, path: str) -> None:
    """Refuse an undescribed band whose values cannot be dB (``db``) or linear power."""
    for index, values in enumerate(overview, start=1):
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        negative = bool((finite < 0).any())
        if negative and not db:
            raise GeocolorError(
                f"{path}: undescribed band {index} holds negative values, not the linear"
                " power the model was trained on; describe it (like 'VV sigma0 dB')"
            )
        if db and not negative:
            raise GeocolorError(
                f"{path}: undescribed band {index} holds no negative value, unlike the dB"
                " backscatter the model was trained on; describe it (like 'VV sigma0 linear')"
            )


def check_measure(descriptions: Sequence[str], measure: str, path: str) -> None:
    """Refuse a raster whose bands hold another backscatter measure than ``measure``."""
    held = {text.split()[1] for text in descriptions if len(text.split()) == 3}
    other = sorted(held - {measure})
    if other:
        raise GeocolorError(
            f"{path}: holds {', '.join(other)} backscatter, but the model was trained on"
            f" {measure}, which it cannot be converted to; give a {measure} scene or the"
            " GRD product"
        )


def check_chain_settings(config: S1Config, path: str) -> None:
    """Refuse a GRD product that the model's settings cannot bring to its measure.

    Flattening to gamma0-rtc needs the DEM the training data was flattened with; a model
    trained on rasters flattened elsewhere (``fetch``, STAC RTC COGs) records none, and
    ellipsoid gamma0 in its place would be silently different radiometry.
    """
    if config.measure == RTC_MEASURE and config.dem is None:
        raise GeocolorError(
            f"{path}: the model was trained on {RTC_MEASURE} (terrain-flattened) backscatter"
            " and records no DEM to flatten this product with; give a gamma0-rtc raster"
            " (fetch --backscatter gamma0-rtc, or process-s1 --measure gamma0-rtc --dem DEM)"
        )


def speckle_to_apply(
    recorded: Mapping[str, Any] | None, trained: Mapping[str, Any] | None, path: str
) -> str | None:
    """The speckle filter to run on a processed raster before the model sees it.

    Parameters
    ----------
    recorded
        What the raster's tags say it went through; None when they say nothing.
    trained
        The model's Sentinel-1 settings (``sar_processing``); None when unknown.
    path
        The scene, named in messages.

    Returns
    -------
    str or None
        The model's filter when the training data was filtered and the raster says it
        is not; None when nothing is to be done.

    Raises
    ------
    GeocolorError
        When the raster is filtered and the training data was not.
    """
    wanted = (trained or {}).get("speckle")
    applied = (recorded or {}).get("speckle")
    if wanted is None:
        return None
    if applied is None:
        if wanted != NO_FILTER:
            log.warning(
                "%s does not say whether it is speckle-filtered; used as it is (the model"
                " was trained on %s-filtered data)",
                path,
                wanted,
            )
        return None
    if applied == NO_FILTER:
        return None if wanted == NO_FILTER else str(wanted)
    if wanted == NO_FILTER:
        raise GeocolorError(
            f"{path}: is speckle-filtered ({applied}), but the model was trained on unfiltered"
            " backscatter and filtering cannot be undone; give an unfiltered scene or the"
            " GRD product"
        )
    if (applied, (recorded or {}).get("window")) != (wanted, (trained or {}).get("window")):
        log.warning(
            "%s was filtered with %s (window %s), the training data with %s (window %s)",
            path,
            applied,
            (recorded or {}).get("window"),
            wanted,
            (trained or {}).get("window"),
        )
    return None
