"""A synthetic world shared by the data generators: land cover and where a scene sits.

The land-cover map is a pure function of world coordinates (lon/lat on WGS84, or any
CRS through pyproj) and a seed, so the Sentinel-1 generator, which samples it at each
radar pixel's lon/lat, and a Sentinel-2 generator, which samples it on a UTM grid, see
the same fields, river and town at the same place. Nothing is held in memory between
calls: every feature (value-noise regions, parcels, rivers, towns) is hashed from
integer lattice coordinates, so any block of any scene can be evaluated on its own.

:class:`SceneLayout` places a synthetic Sentinel-1 IW scene on that world: a zero-Doppler,
ground-range geometry on a spherical Earth whose satellite flies a great circle, which
is close enough to a real pass for the geolocation grid to look and behave like one
(lines fan out slightly in range, lon/lat are not affine in line and pixel).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt
from pyproj import Transformer

from geocolor.errors import UsageError

FloatArray = npt.NDArray[np.floating]
ClassArray = npt.NDArray[np.uint8]

EARTH_RADIUS = 6_371_008.8
"""Mean Earth radius (m) of the spherical world the synthetic geometry lives on."""


class LandCover(IntEnum):
    """Land-cover classes of the synthetic world (values are the stored class codes)."""

    WATER = 0
    FOREST = 1
    CROPLAND = 2
    GRASSLAND = 3
    URBAN = 4
    BARE_SOIL = 5


@dataclass(frozen=True)
class Sigma0Signature:
    """C-band backscatter of a class: mean sigma0 (dB) and the texture swing (± dB)."""

    vv_db: float
    vh_db: float
    texture_db: float


@dataclass(frozen=True)
class ReflectanceSignature:
    """Sentinel-2 L2A surface reflectance of a class and its relative texture swing."""

    b02: float
    b03: float
    b04: float
    b08: float
    texture: float


SIGMA0_SIGNATURES: Mapping[LandCover, Sigma0Signature] = MappingProxyType(
    {
        LandCover.WATER: Sigma0Signature(vv_db=-22.0, vh_db=-28.0, texture_db=0.5),
        LandCover.FOREST: Sigma0Signature(vv_db=-8.0, vh_db=-14.0, texture_db=1.0),
        LandCover.CROPLAND: Sigma0Signature(vv_db=-10.0, vh_db=-17.0, texture_db=2.0),
        LandCover.GRASSLAND: Sigma0Signature(vv_db=-12.0, vh_db=-19.0, texture_db=1.5),
        LandCover.URBAN: Sigma0Signature(vv_db=-3.0, vh_db=-10.0, texture_db=3.0),
        LandCover.BARE_SOIL: Sigma0Signature(vv_db=-14.0, vh_db=-22.0, texture_db=1.5),
    }
)

REFLECTANCE_SIGNATURES: Mapping[LandCover, ReflectanceSignature] = MappingProxyType(
    {
        LandCover.WATER: ReflectanceSignature(0.045, 0.060, 0.035, 0.020, texture=0.10),
        LandCover.FOREST: ReflectanceSignature(0.025, 0.045, 0.025, 0.300, texture=0.10),
        LandCover.CROPLAND: ReflectanceSignature(0.040, 0.075, 0.050, 0.360, texture=0.20),
        LandCover.GRASSLAND: ReflectanceSignature(0.045, 0.080, 0.060, 0.300, texture=0.15),
        LandCover.URBAN: ReflectanceSignature(0.100, 0.110, 0.120, 0.180, texture=0.20),
        LandCover.BARE_SOIL: ReflectanceSignature(0.090, 0.120, 0.150, 0.220, texture=0.15),
    }
)

BANDS = ("B02", "B03", "B04", "B08")
POLARISATIONS = ("VV", "VH")


def _class_table(values: list[float]) -> npt.NDArray[np.float32]:
    return np.asarray(values, dtype=np.float32)


def sigma0_db(
    classes: npt.ArrayLike, pol: str, texture: npt.ArrayLike | None = None
) -> npt.NDArray[np.float32]:
    """Backscatter (dB) of each class code for ``pol``, plus ``texture`` (in [-1, 1]) times
    the class's texture swing when given, so fields are not piecewise constant."""
    key = pol.upper()
    if key not in POLARISATIONS:
        raise UsageError(f"Polarisation {pol!r} has no land-cover signature; use VV or VH.")
    signatures = [SIGMA0_SIGNATURES[c] for c in LandCover]
    means = _class_table([s.vv_db if key == "VV" else s.vh_db for s in signatures])
    codes = np.asarray(classes, dtype=np.intp)
    result = means[codes]
    if texture is not None:
        swings = _class_table([s.texture_db for s in signatures])
        result = result + swings[codes] * np.asarray(texture, dtype=np.float32)
    return result


def reflectance(
    classes: npt.ArrayLike, band: str, texture: npt.ArrayLike | None = None
) -> npt.NDArray[np.float32]:
    """L2A reflectance of each class code in ``band`` (B02, B03, B04 or B08), modulated by
    ``1 + swing * texture`` when a texture field is given."""
    key = band.upper()
    if key not in BANDS:
        raise UsageError(f"Band {band!r} has no land-cover signature; use one of {BANDS}.")
    signatures = [REFLECTANCE_SIGNATURES[c] for c in LandCover]
    means = _class_table([getattr(s, key.lower()) for s in signatures])
    codes = np.asarray(classes, dtype=np.intp)
    result = means[codes]
    if texture is not None:
        swings = _class_table([s.texture for s in signatures])
        result = result * (1.0 + swings[codes] * np.asarray(texture, dtype=np.float32))
    return result


# --------------------------------------------------------------------------------------
# Procedural noise: hashed lattices, so any point is computed without stored state.

_HASH_X = np.uint64(0x9E3779B97F4A7C15)
_HASH_Y = np.uint64(0xC2B2AE3D27D4EB4F)
_HASH_SALT = 0x165667B19E3779F9
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def _hash_uniform(ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], salt: int) -> FloatArray:
    """A uniform [0, 1) value per integer lattice node (splitmix64 finaliser)."""
    h = (ix.astype(np.uint64) * _HASH_X) ^ (iy.astype(np.uint64) * _HASH_Y)
    h ^= np.uint64((salt * _HASH_SALT) & 0xFFFFFFFFFFFFFFFF)
    h ^= h >> np.uint64(30)
    h *= _MIX_1
    h ^= h >> np.uint64(27)
    h *= _MIX_2
    h ^= h >> np.uint64(31)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def _lattice_uniform(
    ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], salt: int, pad: int = 0
) -> tuple[FloatArray, int, int] | None:
    """Hashes of every node in the bounding box of (ix, iy), grown by ``pad``, with the
    box origin; None when the box holds more nodes than there are points. Hashing the
    few nodes of a compact block and gathering is several times faster than hashing
    every point, and gives the very same values."""
    if ix.size == 0:
        return None
    x0, y0 = int(ix.min()), int(iy.min())
    width = int(ix.max()) - x0 + 1 + pad
    height = int(iy.max()) - y0 + 1 + pad
    if width * height > ix.size:
        return None
    xs = np.arange(x0, x0 + width, dtype=np.int64)[:, None]
    ys = np.arange(y0, y0 + height, dtype=np.int64)[None, :]
    return _hash_uniform(xs, ys, salt), x0, y0


def _node_uniform(ix: npt.NDArray[np.int64], iy: npt.NDArray[np.int64], salt: int) -> FloatArray:
    """``_hash_uniform`` of each point's node, through a node table where compact."""
    table = _lattice_uniform(ix, iy, salt)
    if table is None:
        return _hash_uniform(ix, iy, salt)
    values, x0, y0 = table
    return values[ix - x0, iy - y0]


def _value_noise(x: FloatArray, y: FloatArray, salt: int) -> FloatArray:
    """Smooth noise in [0, 1] with one random value per unit lattice cell corner."""
    fx = np.floor(x)
    fy = np.floor(y)
    ix = fx.astype(np.int64)
    iy = fy.astype(np.int64)
    tx = x - fx
    ty = y - fy
    tx = tx * tx * (3.0 - 2.0 * tx)
    ty = ty * ty * (3.0 - 2.0 * ty)
    table = _lattice_uniform(ix, iy, salt, pad=1)
    if table is None:
        v00 = _hash_uniform(ix, iy, salt)
        v10 = _hash_uniform(ix + 1, iy, salt)
        v01 = _hash_uniform(ix, iy + 1, salt)
        v11 = _hash_uniform(ix + 1, iy + 1, salt)
    else:
        values, x0, y0 = table
        i = ix - x0
        j = iy - y0
        v00, v10 = values[i, j], values[i + 1, j]
        v01, v11 = values[i, j + 1], values[i + 1, j + 1]
    top = v00 + (v10 - v00) * tx
    bottom = v01 + (v11 - v01) * tx
    return top + (bottom - top) * ty


def fractal_noise(
    x: FloatArray, y: FloatArray, scale: float, octaves: int, salt: int
) -> FloatArray:
    """Sum of value-noise octaves (feature size ``scale`` metres), normalised to [0, 1]."""
    total = np.zeros(np.shape(x))
    weight = 0.0
    for octave in range(octaves):
        frequency = 2.0**octave / scale
        amplitude = 0.5**octave
        total += amplitude * _value_noise(x * frequency, y * frequency, salt + 97 * octave)
        weight += amplitude
    return total / weight


# --------------------------------------------------------------------------------------
# The map itself.

_REGION_SCALE = 5_000.0  # forest / farmland regions
_WOODLOT_SCALE = 900.0
_LAKE_SCALE = 2_200.0
_TEXTURE_SCALE = 70.0
_PARCEL_WIDTH = 320.0
_PARCEL_LENGTH_MIN = 120.0
_PARCEL_LENGTH_SPAN = 280.0
_RIVER_SPACING = 30_000.0
_TOWN_CELL = 9_000.0
_TOWN_RADIUS_MIN = 700.0
_TOWN_RADIUS_SPAN = 900.0
_BLOCK = 256  # grid points per side of an evaluation block


@dataclass(frozen=True)
class LandCoverSample:
    """Classes and the within-class texture field ([-1, 1]) at a set of points."""

    classes: ClassArray
    texture: npt.NDArray[np.float32]


@dataclass(frozen=True)
class LandCoverModel:
    """The seeded land-cover map of the synthetic world.

    Features are laid out in metres on a local equirectangular frame centred on
    ``origin_lon``/``origin_lat``; two generators agree on the map when they share the
    seed and origin (the defaults put the frame on the default :class:`SceneLayout`).
    """

    seed: int = 0
    origin_lon: float = 9.5
    origin_lat: float = 45.3

    def metres(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """East and north offsets (m) of lon/lat from the model origin."""
        lon_arr = np.asarray(lon, dtype=np.float64)
        lat_arr = np.asarray(lat, dtype=np.float64)
        east_scale = EARTH_RADIUS * math.cos(math.radians(self.origin_lat)) * math.pi / 180.0
        north_scale = EARTH_RADIUS * math.pi / 180.0
        return (lon_arr - self.origin_lon) * east_scale, (lat_arr - self.origin_lat) * north_scale

    def evaluate(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> LandCoverSample:
        """Classes and texture at lon/lat (degrees, any broadcastable shapes).

        2-D grids are evaluated in compact blocks, where lattice hashes are shared
        between neighbouring points; the result does not depend on the blocking.
        """
        x, y = self.metres(*np.broadcast_arrays(np.asarray(lon), np.asarray(lat)))
        if x.ndim != 2:
            return self._evaluate_block(x, y)
        classes = np.empty(x.shape, np.uint8)
        texture = np.empty(x.shape, np.float32)
        for rows in _blocks(x.shape[0]):
            for cols in _blocks(x.shape[1]):
                block = self._evaluate_block(x[rows, cols], y[rows, cols])
                classes[rows, cols] = block.classes
                texture[rows, cols] = block.texture
        return LandCoverSample(classes, texture)

    def _evaluate_block(self, x: FloatArray, y: FloatArray) -> LandCoverSample:
        seed = self.seed * 1_000
        parcel_class, parcel_texture = self._parcels(x, y, seed)
        classes = parcel_class
        region = fractal_noise(x, y, _REGION_SCALE, 3, seed + 1)
        woodlot = _value_noise(x / _WOODLOT_SCALE, y / _WOODLOT_SCALE, seed + 2)
        classes = np.where((region < 0.40) | (woodlot > 0.86), LandCover.FOREST, classes)
        classes = np.where(self._towns(x, y, seed), LandCover.URBAN, classes)
        lake = fractal_noise(x, y, _LAKE_SCALE, 2, seed + 3) > 0.77
        classes = np.where(lake | self._rivers(x, y, seed), LandCover.WATER, classes)
        fine = 2.0 * _value_noise(x / _TEXTURE_SCALE, y / _TEXTURE_SCALE, seed + 4) - 1.0
        in_parcel = classes == parcel_class
        texture = np.where(in_parcel, 0.6 * parcel_texture + 0.4 * fine, fine)
        return LandCoverSample(classes.astype(np.uint8), texture.astype(np.float32))

    def classify(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> ClassArray:
        """Land-cover class codes (:class:`LandCover`) at lon/lat."""
        return self.evaluate(lon, lat).classes

    def evaluate_in_crs(self, x: npt.ArrayLike, y: npt.ArrayLike, crs: str) -> LandCoverSample:
        """Classes and texture at coordinates in ``crs`` (e.g. a Sentinel-2 UTM zone)."""
        to_lonlat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(np.asarray(x, float), np.asarray(y, float))
        return self.evaluate(lon, lat)

    def sigma0(self, lon: npt.ArrayLike, lat: npt.ArrayLike, pol: str) -> npt.NDArray[np.float32]:
        """Noiseless, speckle-free linear sigma0 at lon/lat."""
        sample = self.evaluate(lon, lat)
        db = sigma0_db(sample.classes, pol, sample.texture)
        linear: npt.NDArray[np.float32] = np.power(np.float32(10.0), db / np.float32(10.0))
        return linear

    def reflectance(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, band: str
    ) -> npt.NDArray[np.float32]:
        """L2A surface reflectance at lon/lat."""
        sample = self.evaluate(lon, lat)
        return reflectance(sample.classes, band, sample.texture)

    def _parcels(self, x: FloatArray, y: FloatArray, seed: int) -> tuple[FloatArray, FloatArray]:
        """Brick-like fields in a rotated frame: cropland, grassland or ploughed soil."""
        angle = math.radians(15.0 + 30.0 * _scalar_hash(seed, 10))
        u = x * math.cos(angle) + y * math.sin(angle)
        v = -x * math.sin(angle) + y * math.cos(angle)
        column = np.floor(u / _PARCEL_WIDTH).astype(np.int64)
        zero = np.zeros_like(column)
        length = _PARCEL_LENGTH_MIN + _PARCEL_LENGTH_SPAN * _node_uniform(column, zero, seed + 11)
        shift = _node_uniform(column, zero, seed + 12) * length
        row = np.floor((v + shift) / length).astype(np.int64)
        draw = _node_uniform(column, row, seed + 13)
        kind = np.where(
            draw < 0.55,
            LandCover.CROPLAND,
            np.where(draw < 0.87, LandCover.GRASSLAND, LandCover.BARE_SOIL),
        )
        return kind, 2.0 * _node_uniform(column, row, seed + 14) - 1.0

    def _rivers(self, x: FloatArray, y: FloatArray, seed: int) -> npt.NDArray[np.bool_]:
        """Meandering rivers, one per ``_RIVER_SPACING`` band across the frame."""
        angle = math.radians(-20.0 + 40.0 * _scalar_hash(seed, 20))
        u = x * math.cos(angle) + y * math.sin(angle)
        v = -x * math.sin(angle) + y * math.cos(angle)
        index = np.rint(v / _RIVER_SPACING).astype(np.int64)
        zero = np.zeros_like(index)
        offset = (_node_uniform(index, zero, seed + 21) - 0.5) * 4_000.0
        phase_1 = 2.0 * math.pi * _node_uniform(index, zero, seed + 22)
        phase_2 = 2.0 * math.pi * _node_uniform(index, zero, seed + 23)
        k1, a1 = 2.0 * math.pi / 14_000.0, 2_500.0
        k2, a2 = 2.0 * math.pi / 4_300.0, 800.0
        centre = (
            index * _RIVER_SPACING
            + offset
            + a1 * np.sin(k1 * u + phase_1)
            + a2 * np.sin(k2 * u + phase_2)
        )
        slope = a1 * k1 * np.cos(k1 * u + phase_1) + a2 * k2 * np.cos(k2 * u + phase_2)
        half_width = 35.0 + 20.0 * (0.5 + 0.5 * np.sin(u / 3_000.0 + phase_1))
        return np.abs(v - centre) < half_width * np.sqrt(1.0 + slope * slope)

    def _towns(self, x: FloatArray, y: FloatArray, seed: int) -> npt.NDArray[np.bool_]:
        """Irregular towns, at most one per lattice cell; the origin's cell always has one."""
        cx = np.floor(x / _TOWN_CELL + 0.5).astype(np.int64)
        cy = np.floor(y / _TOWN_CELL + 0.5).astype(np.int64)
        present = (_node_uniform(cx, cy, seed + 30) < 0.5) | ((cx == 0) & (cy == 0))
        radius = _TOWN_RADIUS_MIN + _TOWN_RADIUS_SPAN * _node_uniform(cx, cy, seed + 31)
        room = 0.5 * _TOWN_CELL - 1.5 * (_TOWN_RADIUS_MIN + _TOWN_RADIUS_SPAN)
        centre_x = cx * _TOWN_CELL + (_node_uniform(cx, cy, seed + 32) - 0.5) * 2.0 * room
        centre_y = cy * _TOWN_CELL + (_node_uniform(cx, cy, seed + 33) - 0.5) * 2.0 * room
        ragged = 0.75 + 0.5 * _value_noise(x / 600.0, y / 600.0, seed + 34)
        distance = np.hypot(x - centre_x, y - centre_y)
        towns: npt.NDArray[np.bool_] = present & (distance < radius * ragged)
        return towns


def _blocks(size: int) -> list[slice]:
    return [slice(start, start + _BLOCK) for start in range(0, size, _BLOCK)]


def _scalar_hash(seed: int, salt: int) -> float:
    """One uniform [0, 1) number derived from the seed (global orientations, phases)."""
    value = _hash_uniform(np.array([seed], np.int64), np.array([0], np.int64), salt)
    return float(value[0])


# --------------------------------------------------------------------------------------
# Where a synthetic Sentinel-1 scene sits, and its radar geometry.

PassDirection = Literal["DESCENDING", "ASCENDING"]

ORBIT_PERIOD = 12 * 86_400.0 / 175.0
"""Seconds per Sentinel-1 orbit: 175 orbits in the 12-day repeat cycle."""
_ORBIT_INCLINATION = 98.18


_WGS84_A = 6_378_137.0
_WGS84_B = 6_356_752.314245179
_GEODETIC_TO_ECEF = Transformer.from_crs("EPSG:4979", "EPSG:4978", always_xy=True)
_ECEF_TO_GEODETIC = Transformer.from_crs("EPSG:4978", "EPSG:4979", always_xy=True)
# fixed-point iterations placing a slant-range circle on the ellipsoid (converges to
# well under a millimetre in four)
_ELLIPSOID_ITERATIONS = 6


def _unit_vector(lon: float, lat: float) -> npt.NDArray[np.float64]:
    lo, la = math.radians(lon), math.radians(lat)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])


def _geocentric_latitude(lat: float) -> float:
    """Geocentric latitude (degrees) of a point at geodetic ``lat`` on the WGS84 ellipsoid."""
    return math.degrees(math.atan((_WGS84_B / _WGS84_A) ** 2 * math.tan(math.radians(lat))))


def _ellipsoid_radius(direction: FloatArray) -> FloatArray:
    """Distance from the Earth's centre to the WGS84 ellipsoid along unit ``direction``."""
    x, y, z = direction[..., 0], direction[..., 1], direction[..., 2]
    radius: FloatArray = 1.0 / np.sqrt((x * x + y * y) / _WGS84_A**2 + z * z / _WGS84_B**2)
    return radius


@dataclass(frozen=True)
class SceneLayout:
    """Placement, size and radar geometry of a synthetic IW GRDH scene.

    Line ``l`` is the zero-Doppler position of a satellite flying a great circle at
    ``platform_height`` with ``heading`` at the scene centre; pixel ``p`` is seen at the
    slant range of ``p * pixel_spacing`` metres of ground range beyond the near-range
    edge of a reference sphere, whose incidence is ``near_incidence`` degrees; the radar
    looks right. The ground point of (line, pixel) is where that slant range meets the
    WGS84 ellipsoid in the line's zero-Doppler plane, so the geolocation grid, the
    orbit state vectors and the slant-to-ground-range polynomials written from this
    layout agree as range-Doppler geometry says they must. Defaults are a full-size
    descending frame over the Po plain.
    """

    centre_lon: float = 9.5
    centre_lat: float = 45.3
    lines: int = 16_704
    samples: int = 26_100
    pixel_spacing: float = 10.0
    orbit_pass: PassDirection = "DESCENDING"
    near_incidence: float = 30.3
    platform_height: float = 693_000.0
    start_time: datetime = field(default=datetime(2021, 6, 14, 5, 26, 47, 351_215))

    def __post_init__(self) -> None:
        if self.lines < 2 or self.samples < 2:
            raise UsageError(
                f"A scene needs at least 2 lines and 2 samples, got {self.lines} x {self.samples}."
            )
        if self.orbit_pass not in ("DESCENDING", "ASCENDING"):
            raise UsageError(
                f"orbit_pass must be DESCENDING or ASCENDING, not {self.orbit_pass!r}."
            )

    @property
    def _earth_radius(self) -> float:
        """Radius of the reference sphere: the ellipsoid's at the scene centre, so the
        platform flies ``platform_height`` above the ground there."""
        centre = _unit_vector(self.centre_lon, _geocentric_latitude(self.centre_lat))
        return float(_ellipsoid_radius(centre))

    @property
    def heading(self) -> float:
        """Track bearing at the scene centre (degrees from north, as platformHeading)."""
        return -168.0 if self.orbit_pass == "DESCENDING" else -12.0

    @property
    def near_range_angle(self) -> float:
        """Earth-centre angle (rad) between the nadir track and the near-range edge."""
        orbit_radius = self._earth_radius + self.platform_height
        incidence = math.radians(self.near_incidence)
        look = math.asin(self._earth_radius * math.sin(incidence) / orbit_radius)
        return incidence - look

    def ground_angle(self, pixel: npt.ArrayLike) -> FloatArray:
        """Earth-centre angle (rad) from the nadir track to ``pixel``."""
        pixels = np.asarray(pixel, dtype=np.float64)
        return self.near_range_angle + pixels * self.pixel_spacing / self._earth_radius

    @property
    def _centre_angle(self) -> float:
        return float(self.ground_angle((self.samples - 1) / 2.0))

    @property
    def _basis(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Orthonormal (u, v, w): the orbit plane is span(u, v) with the satellite moving
        along v at the centre line; w is the plane's pole on the (right-looking) radar side."""
        geocentric_lat = _geocentric_latitude(self.centre_lat)
        centre = _unit_vector(self.centre_lon, geocentric_lat)
        lon, lat = math.radians(self.centre_lon), math.radians(geocentric_lat)
        east = np.array([-math.sin(lon), math.cos(lon), 0.0])
        north = np.array(
            [-math.sin(lat) * math.cos(lon), -math.sin(lat) * math.sin(lon), math.cos(lat)]
        )
        bearing = math.radians(self.heading)
        along = math.sin(bearing) * east + math.cos(bearing) * north
        look = math.sin(bearing + math.pi / 2) * east + math.cos(bearing + math.pi / 2) * north
        gamma = self._centre_angle
        u = math.cos(gamma) * centre - math.sin(gamma) * look
        w = math.sin(gamma) * centre + math.cos(gamma) * look
        return u, along, w

    @property
    def _orbit_angle_per_line(self) -> float:
        """Orbit-plane angle per line, so lines are ``pixel_spacing`` apart mid-swath."""
        return self.pixel_spacing / (self._earth_radius * math.cos(self._centre_angle))

    def orbit_angle(self, line: npt.ArrayLike) -> FloatArray:
        """Angle (rad) along the orbit plane from the centre line to ``line``."""
        lines = np.asarray(line, dtype=np.float64)
        return (lines - (self.lines - 1) / 2.0) * self._orbit_angle_per_line

    def lonlat(self, line: npt.ArrayLike, pixel: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Geodetic lon/lat (degrees, WGS84, height 0) of radar coordinates (broadcast)."""
        u, v, w = self._basis
        s = self.orbit_angle(line)[..., None]
        toward = np.cos(s) * u + np.sin(s) * v
        slant = np.asarray(self.slant_range(pixel))[..., None]
        orbit_radius = self._earth_radius + self.platform_height
        ground_radius = np.full(
            np.broadcast_shapes(toward.shape, slant.shape)[:-1], self._earth_radius
        )
        for _ in range(_ELLIPSOID_ITERATIONS):
            cosine = (ground_radius**2 + orbit_radius**2 - slant[..., 0] ** 2) / (
                2.0 * orbit_radius * ground_radius
            )
            gamma = np.arccos(np.clip(cosine, -1.0, 1.0))[..., None]
            direction = np.cos(gamma) * toward + np.sin(gamma) * w
            ground_radius = _ellipsoid_radius(direction)
        point = ground_radius[..., None] * direction
        lon, lat, _ = _ECEF_TO_GEODETIC.transform(point[..., 0], point[..., 1], point[..., 2])
        return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)

    def radar_coordinates(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Fractional (line, pixel) of geodetic lon/lat at height 0: :meth:`lonlat` inverted."""
        u, v, _ = self._basis
        lons, lats = np.broadcast_arrays(
            np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
        )
        x, y, z = _GEODETIC_TO_ECEF.transform(lons, lats, np.zeros(lons.shape))
        point = np.stack([np.asarray(x), np.asarray(y), np.asarray(z)], -1)
        s = np.arctan2(point @ v, point @ u)
        orbit_radius = self._earth_radius + self.platform_height
        satellite = orbit_radius * (np.cos(s)[..., None] * u + np.sin(s)[..., None] * v)
        slant = np.linalg.norm(point - satellite, axis=-1)
        cosine = (self._earth_radius**2 + orbit_radius**2 - slant**2) / (
            2.0 * self._earth_radius * orbit_radius
        )
        gamma = np.arccos(np.clip(cosine, -1.0, 1.0))
        line = s / self._orbit_angle_per_line + (self.lines - 1) / 2.0
        pixel = (gamma - self.near_range_angle) * self._earth_radius / self.pixel_spacing
        return line, pixel

    def slant_range(self, pixel: npt.ArrayLike) -> FloatArray:
        """Satellite-to-ground distance (m) at ``pixel``."""
        gamma = self.ground_angle(pixel)
        orbit_radius = self._earth_radius + self.platform_height
        return np.sqrt(
            self._earth_radius**2
            + orbit_radius**2
            - 2.0 * self._earth_radius * orbit_radius * np.cos(gamma)
        )

    def incidence_angle(self, pixel: npt.ArrayLike) -> FloatArray:
        """Local incidence angle (degrees) on the spherical surface at ``pixel``."""
        gamma = self.ground_angle(pixel)
        sine = (self._earth_radius + self.platform_height) * np.sin(gamma) / self.slant_range(pixel)
        return np.degrees(np.arcsin(sine))

    def elevation_angle(self, pixel: npt.ArrayLike) -> FloatArray:
        """Off-nadir look angle (degrees) of ``pixel`` seen from the satellite."""
        gamma = self.ground_angle(pixel)
        return np.degrees(np.arcsin(self._earth_radius * np.sin(gamma) / self.slant_range(pixel)))

    @property
    def azimuth_time_interval(self) -> float:
        """Seconds between lines for a satellite on a Sentinel-1 orbit period."""
        return self._orbit_angle_per_line * ORBIT_PERIOD / (2.0 * math.pi)

    def line_time(self, line: float) -> datetime:
        """Zero-Doppler UTC time of ``line``."""
        return self.start_time + timedelta(seconds=line * self.azimuth_time_interval)

    @property
    def stop_time(self) -> datetime:
        """Zero-Doppler time of the last line."""
        return self.line_time(self.lines - 1)

    @property
    def ascending_node_time(self) -> datetime:
        """Time of the last ascending-node crossing before the scene centre."""
        sine = math.sin(math.radians(self.centre_lat)) / math.sin(math.radians(_ORBIT_INCLINATION))
        latitude_argument = math.degrees(math.asin(sine))
        if self.orbit_pass == "DESCENDING":
            latitude_argument = 180.0 - latitude_argument
        latitude_argument %= 360.0
        since_node = latitude_argument / 360.0 * ORBIT_PERIOD
        return self.line_time((self.lines - 1) / 2.0) - timedelta(seconds=since_node)

    def orbit_state(self, seconds_from_start: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Earth-fixed satellite positions and velocities (m, m/s), shape (..., 3)."""
        line = np.asarray(seconds_from_start, dtype=np.float64) / self.azimuth_time_interval
        u, v, _ = self._basis
        s = self.orbit_angle(line)[..., None]
        radius = self._earth_radius + self.platform_height
        rate = self._orbit_angle_per_line / self.azimuth_time_interval
        position = radius * (np.cos(s) * u + np.sin(s) * v)
        velocity = radius * rate * (-np.sin(s) * u + np.cos(s) * v)
        return position, velocity
