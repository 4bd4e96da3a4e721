"""Synthetic Sentinel-1 orbit files (POEORB, RESORB) for a synthetic product's pass.

The state vectors come from the same circular orbit as the product's annotation
(:meth:`geocolor.demo.landcover.SceneLayout.orbit_state`), one every 10 s, in the Earth
Explorer File layout and with the file name ESA gives them
(``S1A_OPER_AUX_POEORB_OPOD_<created>_V<start>_<stop>.EOF``), so readers of real orbit
files read these unchanged and tests know the vectors they should get.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np

from geocolor.demo.landcover import SceneLayout
from geocolor.demo.safe_writer import child, xml_bytes

_SCHEMA = "http://eop-cfi.esa.int/CFI/EE_CFI_SCHEMAS/EO_OPER_AUX_ORBRES_0101.XSD"
VECTOR_SECONDS = 10.0
"""Spacing of the state vectors, as in POEORB and RESORB files."""
_DESCRIPTIONS = {
    "POEORB": "Precise Orbit Ephemerides (POE) Orbit File",
    "RESORB": "Sentinel-1 Restituted Orbit File",
}
_HALF_SPAN = timedelta(minutes=10)
"""Coverage either side of the acquisition: real files cover hours (RESORB) or a day
(POEORB); twenty minutes of vectors keep a test's file small and still bracket a frame."""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def write_orbit_file(
    out_dir: str | Path,
    layout: SceneLayout | None = None,
    *,
    kind: Literal["POEORB", "RESORB"] = "POEORB",
    mission: str = "S1A",
    shift: timedelta = timedelta(0),
    lead: timedelta = timedelta(0),
) -> Path:
    """Write an orbit file covering ``layout``'s acquisition into ``out_dir``.

    ``kind`` sets the file type, ``mission`` the satellite (``S1A``, ``S1B``, ``S1C``),
    ``shift`` moves the file's span in time, to make a file that misses the
    acquisition, and ``lead`` puts the satellite that far ahead along its track (each
    vector holds the state ``lead`` after its time), an orbit error of known size.
    Returns the path.
    """
    layout = layout or SceneLayout()
    first = (layout.start_time + shift - _HALF_SPAN).replace(microsecond=0)
    count = int(2 * _HALF_SPAN.total_seconds() / VECTOR_SECONDS) + 1
    times = [first + timedelta(seconds=i * VECTOR_SECONDS) for i in range(count)]
    offsets = np.array([(time - layout.start_time).total_seconds() for time in times])
    positions, velocities = layout.orbit_state(offsets + lead.total_seconds())
    created = times[-1] + timedelta(days=1 if kind == "RESORB" else 20)
    name = (
        f"{mission}_OPER_AUX_{kind}_OPOD_{_stamp(created)}_V{_stamp(times[0])}_{_stamp(times[-1])}"
    )
    root = ET.Element(
        "Earth_Explorer_File",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": f"http://eop-cfi.esa.int/CFI {_SCHEMA}",
            "schemaVersion": "1.1",
        },
    )
    header = child(root, "Earth_Explorer_Header")
    fixed = child(header, "Fixed_Header")
    for tag, text in (
        ("File_Name", name),
        ("File_Description", _DESCRIPTIONS[kind]),
        ("Notes", ""),
        ("Mission", f"Sentinel-1{mission[-1]}"),
        ("File_Class", "OPER"),
        ("File_Type", f"AUX_{kind}"),
    ):
        child(fixed, tag, text)
    validity = child(fixed, "Validity_Period")
    child(validity, "Validity_Start", f"UTC={_utc(times[0])[:19]}")
    child(validity, "Validity_Stop", f"UTC={_utc(times[-1])[:19]}")
    child(fixed, "File_Version", "0001")
    source = child(fixed, "Source")
    for tag, text in (
        ("System", "OPOD"),
        ("Creator", "OPOD"),
        ("Creator_Version", "3.1.0"),
        ("Creation_Date", f"UTC={_utc(created)[:19]}"),
    ):
        child(source, tag, text)
    variable = child(header, "Variable_Header")
    child(variable, "Ref_Frame", "EARTH_FIXED")
    child(variable, "Time_Reference", "UTC")
    osvs = child(child(root, "Data_Block", type="xml"), "List_of_OSVs", count=str(count))
    for time, position, velocity in zip(times, positions, velocities, strict=True):
        osv = child(osvs, "OSV")
        child(osv, "TAI", f"TAI={_utc(time + timedelta(seconds=37))}")
        child(osv, "UTC", f"UTC={_utc(time)}")
        child(osv, "UT1", f"UT1={_utc(time - timedelta(microseconds=176_424))}")
        child(osv, "Absolute_Orbit", "+36201")
        for tag, value in zip(("X", "Y", "Z"), position, strict=True):
            child(osv, tag, f"{value:.6f}", unit="m")
        for tag, value in zip(("VX", "VY", "VZ"), velocity, strict=True):
            child(osv, tag, f"{value:.6f}", unit="m/s")
        child(osv, "Quality", "NOMINAL")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.EOF"
    path.write_bytes(xml_bytes(root))
    return path
