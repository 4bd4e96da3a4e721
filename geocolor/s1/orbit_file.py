"""Precise (POEORB) and restituted (RESORB) Sentinel-1 orbit files, as state vectors.

An orbit file is an Earth Explorer File (``.EOF``): a ``Fixed_Header`` naming the
mission (``Sentinel-1A``), the file type (``AUX_POEORB`` or ``AUX_RESORB``) and its
validity, then a ``List_of_OSVs`` of Earth-fixed state vectors, one every 10 s::

    <OSV>
      <UTC>UTC=2021-06-14T05:26:40.000000</UTC>
      <X unit="m">...</X> <Y unit="m">...</Y> <Z unit="m">...</Z>
      <VX unit="m/s">...</VX> <VY unit="m/s">...</VY> <VZ unit="m/s">...</VZ>
    </OSV>

:func:`orbit_for_product` keeps the vectors around a product's acquisition, after
checking the file is for the product's satellite and covers its time span, so a
geocoder interpolates between vectors that bracket every line.
:meth:`OrbitStateVectors.orbit` makes them the :class:`geocolor.s1.orbit.Orbit` that the
range-Doppler geometry solves against, interpolated as the annotation's vectors are:
a cubic Hermite curve between neighbours using their velocities (the default of ISCE3;
sarsen fits one polynomial, SNAP a Lagrange one, to the same 10-s vectors), which is
centimetre-accurate at that spacing.
"""

from __future__ import annotations

import os
import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import numpy as np

from geocolor.errors import GeocolorError
from geocolor.io.xml import local_name, parse_xml, required_number, required_text
from geocolor.s1.orbit import Orbit

__all__ = ["ORBIT_MARGIN_SECONDS", "OrbitStateVectors", "orbit_for_product", "read_orbit_file"]

ORBIT_MARGIN_SECONDS = 60.0
"""Seconds of vectors kept before and after the acquisition (six POEORB vectors each side)."""
_FILE_TYPES = {"AUX_POEORB": "POEORB", "AUX_RESORB": "RESORB"}
_MISSION_NAME = re.compile(r"^Sentinel-1([A-D])$", re.IGNORECASE)
_MISSION_PREFIX = re.compile(r"^(S1[A-D])_", re.IGNORECASE)


@dataclass(frozen=True, eq=False)
class OrbitStateVectors:
    """Earth-fixed state vectors of one satellite, in time order.

    ``times`` are UTC ``datetime64[ns]``; ``positions`` (n, 3) in metres and
    ``velocities`` (n, 3) in metres per second; ``mission`` is ``S1A``/``S1B``/``S1C``;
    ``source`` names where they come from (``POEORB <file name>``) for provenance.
    """

    times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    mission: str
    source: str

    def orbit(self, epoch: datetime) -> Orbit:
        """The vectors as an :class:`Orbit` timed in seconds after ``epoch`` (UTC).

        Differences are taken in integer nanoseconds before becoming float seconds, so
        the times keep their precision whatever the epoch.
        """
        since = (self.times - _datetime64(epoch)) / np.timedelta64(1, "s")
        return Orbit(epoch, since.astype(np.float64), self.positions, self.velocities)


def read_orbit_file(path: str | os.PathLike[str], **storage_options: Any) -> OrbitStateVectors:
    """All the state vectors of a POEORB or RESORB file (local path or fsspec URL)."""
    url = os.fspath(path)
    try:
        with fsspec.open(url, "rb", **storage_options) as handle:
            content = handle.read()
    except FileNotFoundError:
        raise GeocolorError(f"{url}: orbit file not found.") from None
    except (OSError, ValueError) as error:
        raise GeocolorError(f"{url}: orbit file cannot be read ({error}).") from None
    root = parse_xml(content, url)
    if local_name(root.tag) != "Earth_Explorer_File":
        raise GeocolorError(f"{url}: not an Earth Explorer orbit file (root {root.tag!r}).")
    header = ".//{*}Fixed_Header/{*}"
    file_type = required_text(root, header + "File_Type", url)
    kind = _FILE_TYPES.get(file_type)
    if kind is None:
        raise GeocolorError(f"{url}: a {file_type} file, not a POEORB or RESORB orbit file.")
    frame = root.findtext(".//{*}Variable_Header/{*}Ref_Frame")
    if frame is not None and frame.strip() != "EARTH_FIXED":
        raise GeocolorError(f"{url}: state vectors in {frame.strip()}, expected EARTH_FIXED.")
    name = (root.findtext(header + "File_Name") or "").strip() or posixpath.basename(url)
    mission = _mission(root.findtext(header + "Mission"), name, url)
    osvs = root.findall(".//{*}Data_Block/{*}List_of_OSVs/{*}OSV")
    if not osvs:
        raise GeocolorError(f"{url}: holds no orbit state vector.")
    times = np.array([_utc(osv, url) for osv in osvs], dtype="datetime64[ns]")
    positions = _columns(osvs, ("X", "Y", "Z"), url)
    velocities = _columns(osvs, ("VX", "VY", "VZ"), url)
    order = np.argsort(times, kind="stable")
    if np.any(np.diff(times[order]) <= np.timedelta64(0, "ns")):
        raise GeocolorError(f"{url}: repeats a state-vector time.")
    return OrbitStateVectors(
        times[order], positions[order], velocities[order], mission, f"{kind} {name}"
    )


def orbit_for_product(
    path: str | os.PathLike[str],
    mission: str,
    start: datetime,
    stop: datetime,
    margin: float = ORBIT_MARGIN_SECONDS,
) -> OrbitStateVectors:
    """The vectors of the orbit file ``path`` from ``start - margin`` to ``stop + margin``.

    Raises
    ------
    GeocolorError
        When the file is for another satellite than ``mission`` (``S1A``...), or does not
        cover the acquisition ``start``..``stop`` with ``margin`` seconds on either side.
    """
    url = os.fspath(path)
    orbit = read_orbit_file(url)
    if orbit.mission != mission.upper():
        raise GeocolorError(
            f"{url}: orbit file for {orbit.mission}, but the product is from {mission.upper()}."
        )
    delta = np.timedelta64(round(margin * 1e9), "ns")
    first, last = _datetime64(start) - delta, _datetime64(stop) + delta
    if orbit.times[0] > first or orbit.times[-1] < last:
        raise GeocolorError(
            f"{url}: orbit file covers {orbit.times[0]} to {orbit.times[-1]}, not the "
            f"product's {_datetime64(start)} to {_datetime64(stop)} with {margin:g} s margin."
        )
    # the vectors just outside the margin too, so interpolation is bracketed at both ends
    lower = max(int(np.searchsorted(orbit.times, first, side="right")) - 1, 0)
    upper = int(np.searchsorted(orbit.times, last, side="left")) + 1
    keep = slice(lower, upper)
    return OrbitStateVectors(
        orbit.times[keep],
        orbit.positions[keep],
        orbit.velocities[keep],
        orbit.mission,
        orbit.source,
    )


def _mission(text: str | None, name: str, url: str) -> str:
    """``S1A`` from the header's ``Sentinel-1A``, else from the file name's prefix."""
    match = _MISSION_NAME.match((text or "").strip())
    if match:
        return f"S1{match.group(1).upper()}"
    prefix = _MISSION_PREFIX.match(name)
    if prefix:
        return prefix.group(1).upper()
    raise GeocolorError(f"{url}: names no Sentinel-1 satellite (Mission {text!r}).")


def _utc(osv: ET.Element, url: str) -> np.datetime64:
    text = required_text(osv, "{*}UTC", url)
    try:
        return np.datetime64(text.removeprefix("UTC="), "ns")
    except ValueError:
        raise GeocolorError(f"{url}: OSV time {text!r} is not a UTC time.") from None


def _columns(osvs: list[ET.Element], tags: tuple[str, ...], url: str) -> np.ndarray:
    values = np.array(
        [[required_number(osv, f"{{*}}{tag}", url) for tag in tags] for osv in osvs],
        dtype=np.float64,
    )
    if not np.isfinite(values).all():
        raise GeocolorError(f"{url}: state vectors hold non-finite values.")
    return values


def _datetime64(moment: datetime) -> np.datetime64:
    """A UTC datetime (aware or naive) as ``datetime64[ns]``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(moment, "ns")
