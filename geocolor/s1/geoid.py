"""Heights above a geoid (EGM96, EGM2008) to heights above the WGS84 ellipsoid.

Range-Doppler geometry needs ellipsoidal heights; Copernicus DEM and most national
DEMs give heights above a geoid, tens of metres away (about +50 m in the Alps). The
undulation comes from PROJ's geoid grid for the DEM's vertical CRS, found where PROJ
looks plus the system's PROJ data folders (Debian's ``proj-data`` ships the EGM96
grid). EGM2008 heights without PROJ's EGM2008 grid (us_nga_egm08_25.tif, 80 MB) fall
back to the EGM96 undulation, within a metre or two of it over most land, and the
height reference recorded in provenance says so.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio.crs
from pyproj import CRS, Transformer, datadir
from pyproj.crs import CompoundCRS
from pyproj.transformer import TransformerGroup
from rasterio.transform import Affine

from geocolor.errors import GeocolorError
from geocolor.geo.grid import LONLAT, Grid
from geocolor.progress import note

ELLIPSOID_3D = "EPSG:4979"
"""WGS84 geographic 3-D: longitude, latitude and height above the ellipsoid."""
KNOT_SPACING_M = 500.0
"""Ground distance between the points the undulation is evaluated at."""
_METRES_PER_DEGREE = 111_320.0
_SYSTEM_PROJ_DATA = ("/usr/share/proj", "/usr/local/share/proj")
_EGM2008 = "EGM2008 height"
_EGM96 = "EPSG:5773"  # EGM96 height


@dataclass(frozen=True)
class Geoid:
    """A geoid's undulation as a PROJ pipeline (lon, lat in degrees, height in metres)."""

    pipeline: str
    description: str

    def undulation(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Height (m) of the geoid above the ellipsoid at ``lon``, ``lat`` (degrees)."""
        zero = np.zeros(np.shape(lon))
        _, _, ellipsoidal = _transformer(self.pipeline).transform(lon, lat, zero)
        return np.asarray(ellipsoidal, dtype=np.float64)

    def undulation_on(
        self, crs: rasterio.crs.CRS, transform: Affine, shape: tuple[int, int]
    ) -> np.ndarray:
        """The undulation at the pixel centres of a ``shape`` raster at ``transform``.

        The geoid is smooth over kilometres, so it is evaluated every
        :data:`KNOT_SPACING_M` and interpolated bilinearly in between: a fraction of the
        cost of a PROJ call per pixel, for differences of millimetres.
        """
        pixel = max(abs(transform.a), abs(transform.e))
        metres = pixel * (_METRES_PER_DEGREE if crs.is_geographic else 1.0)
        step = max(1, int(KNOT_SPACING_M // metres))
        rows, cols = _knots(shape[0], step), _knots(shape[1], step)
        grid_rows, grid_cols = np.meshgrid(rows + 0.5, cols + 0.5, indexing="ij")
        x, y = Grid(crs, transform, shape[1], shape[0]).pixel_to_map(grid_rows, grid_cols)
        lon, lat = Transformer.from_crs(crs, LONLAT, always_xy=True).transform(x, y)
        coarse = self.undulation(np.asarray(lon), np.asarray(lat))
        undulation: np.ndarray = (
            _linear_weights(shape[0], rows) @ coarse @ _linear_weights(shape[1], cols).T
        )
        return undulation


def _knots(size: int, step: int) -> np.ndarray:
    """Pixel indices the undulation is evaluated at: every ``step``, and the last."""
    return np.unique(np.r_[np.arange(0, size, step), size - 1])


def _linear_weights(size: int, knots: np.ndarray) -> np.ndarray:
    """(size, len(knots)) matrix interpolating values at ``knots`` linearly onto 0..size-1."""
    pixels = np.arange(size)
    return np.stack([np.interp(pixels, knots, unit) for unit in np.eye(len(knots))], axis=1)


def geoid_of(crs_wkt: str, source: str) -> Geoid | None:
    """The conversion a DEM in ``crs_wkt`` needs; None for a CRS without a vertical datum.

    A vertical datum whose grid is not installed is a one-line error naming the grid.
    """
    vertical = _vertical_crs(CRS.from_wkt(crs_wkt))
    if vertical is None:
        return None
    found = _geoid_pipeline(vertical)
    if found is not None:
        return Geoid(found, f"{vertical.name} -> WGS84 ellipsoid via PROJ grid {_grids(found)}")
    if vertical.name == _EGM2008:
        fallback = _geoid_pipeline(CRS(_EGM96))
        if fallback is not None:
            note(
                f"{source}: PROJ's EGM2008 grid is not installed; "
                "converting EGM2008 heights with the EGM96 undulation"
            )
            return Geoid(
                fallback,
                f"{vertical.name} -> WGS84 ellipsoid via the EGM96 undulation "
                f"(PROJ grid {_grids(fallback)}; EGM2008 grid not installed)",
            )
    wanted = _missing_grids(vertical) or ["a geoid grid"]
    raise GeocolorError(
        f"{source}: heights above {vertical.name} need PROJ's {' or '.join(wanted)} "
        "(projsync --file NAME, or Debian's proj-data for EGM96), or an ellipsoidal DEM"
    )


def _vertical_crs(crs: CRS) -> CRS | None:
    if crs.is_vertical and not crs.is_compound:
        return crs
    return next((sub for sub in crs.sub_crs_list if sub.is_vertical), None)


def _group(vertical: CRS) -> TransformerGroup:
    """PROJ's operations to the ellipsoid, without ballpark (zero-undulation) ones."""
    _add_system_proj_data()
    source = CompoundCRS(f"WGS 84 + {vertical.name}", [CRS("EPSG:4326"), vertical])
    with warnings.catch_warnings():
        # a missing best grid is what the callers look at, not a warning to print
        warnings.simplefilter("ignore", UserWarning)
        return TransformerGroup(source, ELLIPSOID_3D, always_xy=True, allow_ballpark=False)


def _geoid_pipeline(vertical: CRS) -> str | None:
    usable = [t for t in _group(vertical).transformers if "vgridshift" in t.definition]
    return usable[0].definition if usable else None


def _missing_grids(vertical: CRS) -> list[str]:
    operations = _group(vertical).unavailable_operations
    return [grid.short_name for op in operations for grid in op.grids][:2]


def _grids(pipeline: str) -> str:
    return ", ".join(re.findall(r"grids=(\S+)", pipeline))


def _add_system_proj_data() -> None:
    """Let PROJ find grids in the system's data folders too (pyproj ships none); idempotent."""
    for folder in _SYSTEM_PROJ_DATA:
        if Path(folder).is_dir() and folder not in datadir.get_data_dir():
            datadir.append_data_dir(folder)


def _transformer(pipeline: str) -> Transformer:
    _add_system_proj_data()
    return Transformer.from_pipeline(pipeline)
