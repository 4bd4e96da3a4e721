"""Synthetic Sentinel-2 L2A products, format-faithful to processing baseline 04.00, with
known truth.

The optical sibling of :mod:`geocolor.demo.s1`: both sample the same land-cover map
(:mod:`geocolor.demo.landcover`), so a synthetic S1/S2 pair written from one
:class:`~geocolor.demo.landcover.SceneLayout` shows the same fields, river and town at the
same place. The tile is a UTM grid centred on the radar scene; each pixel's surface
reflectance is its land-cover class's signature at the pixel centre, and the digital
numbers follow the L2A convention ``DN = round(reflectance * 10000 - BOA_ADD_OFFSET)``.

On top of the ground sit procedural clouds (bright grey cores fading into thin cirrus),
their shadows displaced away from the sun, a scene classification (SCL) that labels all
of it, and a no-data wedge along the east edge, as in a tile the swath only partly
covers. ``MTD_MSIL2A.xml`` and ``GRANULE/*/MTD_TL.xml`` follow a real product element for
element where readers look. Rasters are computed strip by strip, so memory stays
bounded for a full 10 980 x 10 980 tile.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
import rasterio.shutil
from affine import Affine
from pyproj import Transformer
from rasterio.crs import CRS
from rasterio.windows import Window

from geocolor.demo.landcover import (
    FloatArray,
    LandCoverModel,
    LandCoverSample,
    SceneLayout,
    fractal_noise,
    reflectance,
)
from geocolor.demo.safe_writer import child, publish_safe, xml_bytes
from geocolor.errors import UsageError
from geocolor.geo.crs import utm_crs_for
from geocolor.geo.grid import LONLAT, Grid
from geocolor.progress import progress

FULL_TILE = 10_980
"""Edge of a real Sentinel-2 tile in 10 m pixels (109.8 km)."""

QUANTIFICATION_VALUE = 10_000.0
BASELINE_OFFSET = -1000.0
"""BOA_ADD_OFFSET of every band from processing baseline 04.00 on."""

BANDS = ("B02", "B03", "B04", "B08")
"""Spectral bands written, by their land-cover signature names (B08 is the NIR band)."""

RESOLUTIONS = (10, 20, 60)

_USER_PRODUCT_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"
_TILE_NS = "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd"
# physical band, resolution (m), central wavelength (nm) of Sentinel-2A, by bandId
_SPECTRAL_BANDS = (
    ("B1", 60, 442.7),
    ("B2", 10, 492.7),
    ("B3", 10, 559.8),
    ("B4", 10, 664.6),
    ("B5", 20, 704.1),
    ("B6", 20, 740.5),
    ("B7", 20, 782.8),
    ("B8", 10, 832.8),
    ("B8A", 20, 864.7),
    ("B9", 60, 945.1),
    ("B10", 60, 1373.5),
    ("B11", 20, 1613.7),
    ("B12", 20, 2202.4),
)
_SCL_NAMES = (
    "NODATA",
    "SATURATED_DEFECTIVE",
    "DARK_FEATURE_SHADOW",
    "CLOUD_SHADOW",
    "VEGETATION",
    "NOT_VEGETATED",
    "WATER",
    "UNCLASSIFIED",
    "CLOUD_MEDIUM_PROBA",
    "CLOUD_HIGH_PROBA",
    "THIN_CIRRUS",
    "SNOW_ICE",
)
# Image_Content_QI percentage of each SCL class from 1 on
_SCL_PERCENTAGES = (
    "SATURATED_DEFECTIVE_PIXEL_PERCENTAGE",
    "DARK_FEATURES_PERCENTAGE",
    "CLOUD_SHADOW_PERCENTAGE",
    "VEGETATION_PERCENTAGE",
    "NOT_VEGETATED_PERCENTAGE",
    "WATER_PERCENTAGE",
    "UNCLASSIFIED_PERCENTAGE",
    "MEDIUM_PROBA_CLOUDS_PERCENTAGE",
    "HIGH_PROBA_CLOUDS_PERCENTAGE",
    "THIN_CIRRUS_PERCENTAGE",
    "SNOW_ICE_PERCENTAGE",
)
_SCL_CLOUDS = (8, 9, 10)
_JP2_BLOCKS = {10: 1024, 20: 640, 60: 192}  # JPEG 2000 tile edges of real products
_GRID_SNAP = 60  # tile corners sit on whole 60 m pixels, so every resolution aligns
_STRIP_ROWS = 256
_GDAL_CACHE_MB = 64  # blocks are written whole: the cache only needs to pass them on
_NODATA_WIDTH_TOP = 0.10  # share of the tile width outside the swath, top and bottom
_NODATA_WIDTH_BOTTOM = 0.03
_CLOUD_SCALE = 3_000.0  # metres: size of the largest cloud systems
_CLOUD_OCTAVES = 5
_CLOUD_NODE = 40.0  # metres between cloud-density lattice nodes
_CLOUD_HEIGHT = 2_000.0
_CORE_SHARE = 0.7  # of the cloudy area: opaque (SCL 8, 9); the rest is cirrus (SCL 10)
_HIGH_SHARE = 0.35  # of the cloudy area: high-probability cores (SCL 9)
_CIRRUS_OPACITY = 0.3
_SHADOW_DEPTH = 0.55
_CLOUD_BRIGHTNESS = (0.40, 0.60)
_CALIBRATION_POINTS = 128  # per side: density samples that set the cloud thresholds
_NDVI_VEGETATION = 0.4
_MGRS_COLUMNS = ("ABCDEFGH", "JKLMNPQR", "STUVWXYZ")
_MGRS_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_MGRS_BANDS = "CDEFGHJKLMNPQRSTUVWXX"
_ORBIT_PERIOD = 10 * 86_400.0 / 143.0  # Sentinel-2: 143 orbits in a 10-day cycle
_REFERENCE_ORBIT = 38_058  # absolute orbit of a known S2A datatake ...
_REFERENCE_TIME = datetime(2022, 10, 5, 11, 54, 11, 24_000)  # ... its start ...
_REFERENCE_RELATIVE_ORBIT = 23  # ... and relative orbit
_GENERATION_DELAY = timedelta(hours=4, minutes=50, seconds=43)


# --------------------------------------------------------------------------------------
# The scene and its truth.


@dataclass(frozen=True)
class CloudThresholds:
    """Cloud-density levels above which a pixel is cirrus, cloud, or a high-probability
    cloud; set per scene so the cloudy share of the valid area is ``cloud_fraction``."""

    cirrus: float
    cloud: float
    high: float


@dataclass(frozen=True)
class SyntheticS2Scene:
    """Everything that determines a synthetic L2A product's pixels and metadata.

    ``size`` is the tile edge in 10 m pixels (a multiple of 6, so the 10, 20 and 60 m
    grids share the tile's edges; at most a real tile's 10 980); by default the tile
    covers the Sentinel-1 scene of ``layout`` with its valid part. Spectral bands are
    written at ``resolution`` (10, 20 or 60 m) and SCL at 20 m, or 60 m for 60 m bands.
    ``sensing_time`` (UTC) defaults to 10:30 local solar time on the radar scene's day.
    Windows given to the truth methods are on the band grid.
    """

    layout: SceneLayout = field(default_factory=SceneLayout)
    seed: int = 0
    size: int | None = None
    resolution: int = 10
    cloud_fraction: float = 0.15
    sensing_time: datetime | None = None
    baseline: str = "04.00"

    def __post_init__(self) -> None:
        if self.resolution not in RESOLUTIONS:
            raise UsageError(f"resolution must be one of {RESOLUTIONS} m, got {self.resolution}.")
        if not 0.0 <= self.cloud_fraction <= 1.0:
            raise UsageError(f"cloud_fraction must lie in [0, 1], got {self.cloud_fraction}.")
        if self.size is not None and not (6 <= self.size <= FULL_TILE and self.size % 6 == 0):
            raise UsageError(
                f"size must be a multiple of 6 between 6 and {FULL_TILE} pixels, got {self.size}."
            )
        if re.fullmatch(r"\d\d\.\d\d", self.baseline) is None:
            raise UsageError(f"baseline must look like '04.00', got {self.baseline!r}.")

    # -- placement --------------------------------------------------------------------

    @property
    def landcover(self) -> LandCoverModel:
        """The land-cover map this scene samples (the synthetic S1 scene's, for a seed)."""
        return LandCoverModel(seed=self.seed)

    @cached_property
    def crs(self) -> CRS:
        """The UTM zone of the radar scene's centre."""
        return utm_crs_for(self.layout.centre_lon, self.layout.centre_lat)

    @cached_property
    def _centre(self) -> tuple[float, float]:
        to_utm = Transformer.from_crs(LONLAT, self.crs, always_xy=True)
        x, y = to_utm.transform(self.layout.centre_lon, self.layout.centre_lat)
        return float(x), float(y)

    @cached_property
    def tile_size(self) -> int:
        """Tile edge in 10 m pixels: ``size``, or the smallest whose valid part covers the
        radar scene (at most a full tile)."""
        if self.size is not None:
            return self.size
        last_line, last_pixel = self.layout.lines - 1, self.layout.samples - 1
        lines = np.array([0, 0, 0, 0.5, 0.5, 1, 1, 1]) * last_line
        pixels = np.array([0, 0.5, 1, 0, 1, 0, 0.5, 1]) * last_pixel
        lon, lat = self.layout.lonlat(lines, pixels)
        x, y = Transformer.from_crs(LONLAT, self.crs, always_xy=True).transform(lon, lat)
        centre_x, centre_y = self._centre
        reach = max(np.abs(x - centre_x).max(), np.abs(y - centre_y).max())
        edge: float = 2.0 * reach / 10.0 / (1.0 - 2.0 * _NODATA_WIDTH_TOP)
        return min(6 * math.ceil(edge / 6), FULL_TILE)

    @cached_property
    def origin(self) -> tuple[float, float]:
        """Upper-left corner (x, y) of the tile, on whole 60 m pixels."""
        half = self.tile_size * 5.0
        centre_x, centre_y = self._centre
        return (
            round((centre_x - half) / _GRID_SNAP) * _GRID_SNAP,
            round((centre_y + half) / _GRID_SNAP) * _GRID_SNAP,
        )

    def grid(self, resolution: int) -> Grid:
        """The tile's grid at ``resolution`` metres."""
        if resolution not in RESOLUTIONS:
            raise UsageError(f"resolution must be one of {RESOLUTIONS} m, got {resolution}.")
        edge = self.tile_size * 10 // resolution
        left, top = self.origin
        return Grid(self.crs, Affine(resolution, 0.0, left, 0.0, -resolution, top), edge, edge)

    @property
    def scl_resolution(self) -> int:
        """Resolution of the SCL raster: 20 m, or 60 m alongside 60 m bands."""
        return max(20, self.resolution)

    @property
    def band_names(self) -> dict[str, str]:
        """File band name of each written band: B08 is B8A below 10 m, as in real products."""
        nir = "B08" if self.resolution == 10 else "B8A"
        return {"B02": "B02", "B03": "B03", "B04": "B04", "B08": nir}

    @cached_property
    def acquired(self) -> datetime:
        """Sensing time (naive UTC)."""
        if self.sensing_time is None:
            solar_hours = 10.5 - self.layout.centre_lon / 15.0
            midnight = datetime.combine(self.layout.start_time.date(), datetime.min.time())
            return midnight + timedelta(seconds=round(solar_hours * 3600.0))
        if self.sensing_time.tzinfo is None:
            return self.sensing_time
        return self.sensing_time.astimezone(UTC).replace(tzinfo=None)

    @property
    def offset(self) -> float:
        """BOA_ADD_OFFSET of every band: -1000 from baseline 04.00 on, else none (0)."""
        return BASELINE_OFFSET if self.baseline >= "04.00" else 0.0

    @cached_property
    def sun_angles(self) -> tuple[float, float]:
        """Mean solar zenith and azimuth (degrees) over the tile at the sensing time."""
        to_lonlat = Transformer.from_crs(self.crs, LONLAT, always_xy=True)
        half = self.tile_size * 5.0
        lon, lat = to_lonlat.transform(self.origin[0] + half, self.origin[1] - half)
        return _sun_angles(self.acquired, float(lon), float(lat))

    @property
    def shadow_shift(self) -> tuple[float, float]:
        """Ground displacement (east, north metres) from a cloud to its shadow."""
        zenith, azimuth = (math.radians(angle) for angle in self.sun_angles)
        reach = _CLOUD_HEIGHT * math.tan(zenith)
        return -reach * math.sin(azimuth), -reach * math.cos(azimuth)

    # -- truth ------------------------------------------------------------------------

    def pixel_centres(self, window: Window) -> tuple[FloatArray, FloatArray]:
        """x of the column centres and y of the row centres of ``window``, in the CRS."""
        (r0, r1), (c0, c1) = self._ranges(window)
        left, top = self.origin
        step = float(self.resolution)
        x = left + (np.arange(c0, c1) + 0.5) * step
        y = top - (np.arange(r0, r1) + 0.5) * step
        return x, y

    def landcover_sample(self, window: Window) -> LandCoverSample:
        """Land-cover classes and texture at every pixel centre of ``window``."""
        x, y = self.pixel_centres(window)
        xx, yy = np.meshgrid(x, y)
        return self.landcover.evaluate_in_crs(xx, yy, self.crs.to_string())

    def classes(self, window: Window) -> npt.NDArray[np.uint8]:
        """Land-cover class (:class:`~geocolor.demo.landcover.LandCover`) of each pixel."""
        return self.landcover_sample(window).classes

    def reflectance(self, band: str, window: Window) -> npt.NDArray[np.float32]:
        """Noiseless, cloud-free surface reflectance of ``band`` (a :data:`BANDS` name)."""
        sample = self.landcover_sample(window)
        return reflectance(sample.classes, band, sample.texture)

    def valid_mask(self, window: Window) -> npt.NDArray[np.bool_]:
        """False in the no-data wedge (DN 0) east of the swath edge."""
        x, y = self.pixel_centres(window)
        return x[None, :] < self.swath_edge(y)[:, None]

    def cloud_density(self, window: Window) -> FloatArray:
        """Cloud density ([0, 1]) above each pixel; clouds are where it passes thresholds."""
        x, y = self.pixel_centres(window)
        return self._density(x, y)

    def shadow_density(self, window: Window) -> FloatArray:
        """Density of the cloud whose shadow falls on each pixel."""
        x, y = self.pixel_centres(window)
        east, north = self.shadow_shift
        return self._density(x - east, y - north)

    def cloud_or_shadow(self, window: Window) -> npt.NDArray[np.bool_]:
        """Pixels whose reflectance clouds, cirrus or shadows change (valid ones only)."""
        t = self.thresholds
        touched = (self.cloud_density(window) > t.cirrus) | (self.shadow_density(window) > t.cloud)
        return touched & self.valid_mask(window)

    @cached_property
    def thresholds(self) -> CloudThresholds:
        """Density levels, from a sample of the valid area, matching ``cloud_fraction``."""
        if self.cloud_fraction == 0.0:
            return CloudThresholds(1.0, 1.5, 2.0)  # the density never exceeds 1
        edge = self.grid(self.resolution).width
        points = np.unique(np.linspace(0, edge - 1, _CALIBRATION_POINTS).round().astype(int))
        left, top = self.origin
        x = left + (points + 0.5) * self.resolution
        y = top - (points + 0.5) * self.resolution
        valid = x[None, :] < self.swath_edge(y)[:, None]
        density = self._density(x, y)[valid]
        cirrus, cloud, high = np.quantile(
            density,
            [
                1.0 - self.cloud_fraction,
                1.0 - _CORE_SHARE * self.cloud_fraction,
                1.0 - _HIGH_SHARE * self.cloud_fraction,
            ],
        )
        cloud = max(float(cloud), float(cirrus) + 1e-6)
        return CloudThresholds(float(cirrus), cloud, max(float(high), cloud + 1e-6))

    def observed(self, window: Window) -> dict[str, npt.NDArray[np.float32]]:
        """Reflectance the product holds, clouds and shadows included, per band (NaN
        where there is no data): the DN are this, quantised."""
        sample = self.landcover_sample(window)
        sky = self._sky(window)
        valid = self.valid_mask(window)
        return {
            band: sky.seen(reflectance(sample.classes, band, sample.texture), valid)
            for band in BANDS
        }

    def _sky(self, window: Window) -> _Sky:
        x, y = self.pixel_centres(window)
        east, north = self.shadow_shift
        return _Sky(self._density(x, y), self._density(x - east, y - north), self.thresholds)

    def _density(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Fractal noise on a world-anchored lattice, bilinear between nodes, on the mesh
        of ``x`` (columns) by ``y`` (rows): cheap at 10 m, and the same value at a point
        whichever window asks."""
        x_nodes, x_index, x_weight = _lattice(x)
        y_nodes, y_index, y_weight = _lattice(y)
        node_x, node_y = np.meshgrid(x_nodes * _CLOUD_NODE, y_nodes * _CLOUD_NODE)
        salt = self.seed * 1_000 + 600
        values = fractal_noise(node_x, node_y, _CLOUD_SCALE, _CLOUD_OCTAVES, salt)
        rows = values[y_index] * (1.0 - y_weight)[:, None] + values[y_index + 1] * y_weight[:, None]
        density = rows[:, x_index] * (1.0 - x_weight) + rows[:, x_index + 1] * x_weight
        return density.astype(np.float32)

    def swath_edge(self, y: FloatArray) -> FloatArray:
        """Easting of the swath edge at northing ``y``: the wedge narrows southwards."""
        width = self.tile_size * 10.0
        left, top = self.origin
        down = (top - y) / width
        share = _NODATA_WIDTH_TOP + (_NODATA_WIDTH_BOTTOM - _NODATA_WIDTH_TOP) * down
        return left + width * (1.0 - share)

    def _ranges(self, window: Window) -> tuple[tuple[int, int], tuple[int, int]]:
        edge = self.grid(self.resolution).width
        rows, cols = window.toranges()
        r0, r1 = int(rows[0]), int(rows[1])
        c0, c1 = int(cols[0]), int(cols[1])
        if not (0 <= r0 < r1 <= edge and 0 <= c0 < c1 <= edge):
            raise UsageError(f"Window {window} is outside the {edge} x {edge} synthetic tile.")
        return (r0, r1), (c0, c1)


@dataclass(frozen=True)
class _Sky:
    """Cloud and shadow densities over a window, and what they do to the ground."""

    density: FloatArray
    shadow: FloatArray
    thresholds: CloudThresholds

    def seen(
        self, ground: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float32]:
        """Reflectance seen through the clouds over shadowed ``ground`` (NaN where not
        ``valid``); exactly ``ground`` where the density is below the cirrus level and no
        cloud core casts a shadow."""
        t = self.thresholds
        opacity = _CIRRUS_OPACITY * _ramp(self.density, t.cirrus, t.cloud) + (
            1.0 - _CIRRUS_OPACITY
        ) * _ramp(self.density, t.cloud, t.high)
        dark, bright = _CLOUD_BRIGHTNESS
        cloud = dark + (bright - dark) * _ramp(self.density, t.cloud, 2.0 * t.high - t.cloud)
        shade = 1.0 - _SHADOW_DEPTH * _ramp(self.shadow, t.cloud, t.high)
        seen = (1.0 - opacity) * ground * shade + opacity * cloud
        return np.where(valid, seen, np.nan).astype(np.float32)

    def priority(self, valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint8]:
        """Per pixel: 5 no data, 4 high-probability cloud, 3 medium, 2 cirrus, 1 shadow,
        0 clear; a coarser SCL pixel takes the highest of its children."""
        t = self.thresholds
        return np.select(
            [~valid, self.density > t.high, self.density > t.cloud, self.density > t.cirrus],
            [5, 4, 3, 2],
            default=np.where(self.shadow > t.cloud, 1, 0),
        ).astype(np.uint8)


# SCL code of each priority; 0 (clear) gives way to the land class
_PRIORITY_SCL = np.array([0, 3, 10, 8, 9, 0], dtype=np.uint8)


def _ramp(values: FloatArray, low: float, high: float) -> FloatArray:
    ramp: FloatArray = np.clip((values - low) / (high - low), 0.0, 1.0)
    return ramp


def _lattice(
    coordinates: FloatArray,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], FloatArray]:
    """Lattice nodes around ``coordinates``, the lower node's index and the weight of the
    upper one for each coordinate."""
    position = coordinates / _CLOUD_NODE
    lower = np.floor(position).astype(np.int64)
    nodes = np.unique(np.concatenate([lower, lower + 1]))
    return nodes, np.searchsorted(nodes, lower), position - lower


def _sun_angles(when: datetime, lon: float, lat: float) -> tuple[float, float]:
    """Solar zenith and azimuth (degrees, azimuth clockwise from north) after NOAA's
    general solar position formulas, good to a fraction of a degree."""
    day = when.timetuple().tm_yday
    hours = when.hour + when.minute / 60.0 + when.second / 3600.0
    year = 2.0 * math.pi / 365.0 * (day - 1 + (hours - 12.0) / 24.0)
    equation_of_time = 229.18 * (
        0.000075
        + 0.001868 * math.cos(year)
        - 0.032077 * math.sin(year)
        - 0.014615 * math.cos(2 * year)
        - 0.040849 * math.sin(2 * year)
    )
    declination = (
        0.006918
        - 0.399912 * math.cos(year)
        + 0.070257 * math.sin(year)
        - 0.006758 * math.cos(2 * year)
        + 0.000907 * math.sin(2 * year)
        - 0.002697 * math.cos(3 * year)
        + 0.00148 * math.sin(3 * year)
    )
    solar_minutes = hours * 60.0 + equation_of_time + 4.0 * lon
    hour_angle = math.radians(solar_minutes / 4.0 - 180.0)
    phi = math.radians(lat)
    cos_zenith = math.sin(phi) * math.sin(declination) + math.cos(phi) * math.cos(
        declination
    ) * math.cos(hour_angle)
    zenith = math.degrees(math.acos(max(-1.0, min(1.0, cos_zenith))))
    azimuth = math.degrees(
        math.atan2(
            math.sin(hour_angle),
            math.cos(hour_angle) * math.sin(phi) - math.tan(declination) * math.cos(phi),
        )
    )
    return zenith, (azimuth + 180.0) % 360.0


# --------------------------------------------------------------------------------------
# Names.


@dataclass(frozen=True)
class ProductNames:
    """Identifiers of a product, its granule and its files, built like ESA's."""

    product_id: str
    tile: str
    granule: str
    tile_id: str
    l1c_tile_id: str
    datastrip_id: str
    datatake_id: str
    absolute_orbit: int
    relative_orbit: int
    generated: datetime

    def image_file(self, scene: SyntheticS2Scene, band: str, resolution: int) -> str:
        """IMAGE_FILE entry (no extension) of a band file."""
        stamp = scene.acquired.strftime("%Y%m%dT%H%M%S")
        stem = f"T{self.tile}_{stamp}_{band}_{resolution}m"
        return f"GRANULE/{self.granule}/IMG_DATA/R{resolution}m/{stem}"


def mgrs_tile(crs: CRS, x: float, y: float, lat: float) -> str:
    """MGRS 100 km square (``32TNR``) holding UTM point (x, y) at latitude ``lat``."""
    zone = int(crs.to_epsg() or 0) % 100
    band = _MGRS_BANDS[max(0, min(int((lat + 80.0) // 8.0), 20))]
    column = _MGRS_COLUMNS[(zone - 1) % 3][int(x // 100_000) - 1]
    row = _MGRS_ROWS[(int(y // 100_000) + (5 if zone % 2 == 0 else 0)) % 20]
    return f"{zone:02d}{band}{column}{row}"


def product_names(scene: SyntheticS2Scene) -> ProductNames:
    """ESA names: S2A_MSIL2A_<sensing>_N<baseline>_R<orbit>_T<tile>_<generation>.SAFE."""
    half = scene.tile_size * 5.0
    centre_x, centre_y = scene.origin[0] + half, scene.origin[1] - half
    _, centre_lat = Transformer.from_crs(scene.crs, LONLAT, always_xy=True).transform(
        centre_x, centre_y
    )
    tile = mgrs_tile(scene.crs, centre_x, centre_y, float(centre_lat))
    orbits = round((scene.acquired - _REFERENCE_TIME).total_seconds() / _ORBIT_PERIOD)
    absolute = _REFERENCE_ORBIT + orbits
    relative = (_REFERENCE_RELATIVE_ORBIT - 1 + orbits) % 143 + 1
    generated = scene.acquired.replace(microsecond=0) + _GENERATION_DELAY
    sensed = scene.acquired.strftime("%Y%m%dT%H%M%S")
    made = generated.strftime("%Y%m%dT%H%M%S")
    baseline = f"N{scene.baseline.replace('.', '')}"
    return ProductNames(
        product_id=f"S2A_MSIL2A_{sensed}_{baseline}_R{relative:03d}_T{tile}_{made}",
        tile=tile,
        granule=f"L2A_T{tile}_A{absolute:06d}_{sensed}",
        tile_id=f"S2A_OPER_MSI_L2A_TL_ATOS_{made}_A{absolute:06d}_T{tile}_N{scene.baseline}",
        l1c_tile_id=f"S2A_OPER_MSI_L1C_TL_ATOS_{made}_A{absolute:06d}_T{tile}_N{scene.baseline}",
        datastrip_id=f"S2A_OPER_MSI_L2A_DS_ATOS_{made}_S{sensed}_N{scene.baseline}",
        datatake_id=f"GS2A_{sensed}_{absolute:06d}_N{scene.baseline}",
        absolute_orbit=absolute,
        relative_orbit=relative,
        generated=generated,
    )


# --------------------------------------------------------------------------------------
# XML.


def _iso(moment: datetime, digits: int) -> str:
    """UTC timestamp with ``digits`` decimals of seconds and a Z, as ESA writes them."""
    fraction = f"{moment.microsecond:06d}"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if digits else "") + "Z"


@dataclass(frozen=True)
class SclStatistics:
    """Pixel counts of each SCL class over the tile, for the quality indicators."""

    counts: npt.NDArray[np.int64]

    @property
    def valid(self) -> int:
        """Pixels with data."""
        return int(self.counts[1:].sum())

    def percent(self, code: int) -> float:
        """Share of the valid pixels in class ``code``."""
        return 100.0 * float(self.counts[code]) / max(self.valid, 1)

    @property
    def nodata_percent(self) -> float:
        """Share of all pixels without data."""
        return 100.0 * float(self.counts[0]) / max(int(self.counts.sum()), 1)

    @property
    def cloud_percent(self) -> float:
        """Cloud_Coverage_Assessment: medium, high and cirrus clouds."""
        return sum(self.percent(code) for code in _SCL_CLOUDS)


def _image_content(parent: ET.Element, stats: SclStatistics, *, tile: bool) -> None:
    content = child(parent, "Image_Content_QI")
    if tile:
        child(content, "CLOUDY_PIXEL_PERCENTAGE", f"{stats.cloud_percent:.6f}")
    child(content, "NODATA_PIXEL_PERCENTAGE", f"{stats.nodata_percent:.6f}")
    for code, name in enumerate(_SCL_PERCENTAGES, start=1):
        child(content, name, f"{stats.percent(code):.6f}")


def footprint_lonlat(scene: SyntheticS2Scene) -> FloatArray:
    """Closed (lon, lat) ring of the valid area, densified along its edges."""
    width = scene.tile_size * 10.0
    left, top = scene.origin
    bottom = top - width
    ys = np.array([top, bottom])
    east_top, east_bottom = scene.swath_edge(ys)
    corners = np.array(
        [(left, top), (east_top, top), (east_bottom, bottom), (left, bottom), (left, top)]
    )
    steps = np.linspace(0.0, 1.0, 9)[None, :-1, None]
    sides = corners[:-1, None] + steps * (corners[1:] - corners[:-1])[:, None]
    ring = np.concatenate([sides.reshape(-1, 2), corners[:1]])
    to_lonlat = Transformer.from_crs(scene.crs, LONLAT, always_xy=True)
    lon, lat = to_lonlat.transform(ring[:, 0], ring[:, 1])
    return np.column_stack([lon, lat])


def product_xml(
    scene: SyntheticS2Scene,
    names: ProductNames,
    image_files: list[str],
    stats: SclStatistics,
    image_format: str,
) -> bytes:
    """MTD_MSIL2A.xml: product info, file list, radiometry, footprint, quality."""
    ET.register_namespace("n1", _USER_PRODUCT_NS)
    root = ET.Element(f"{{{_USER_PRODUCT_NS}}}Level-2A_User_Product")
    general = child(root, f"{{{_USER_PRODUCT_NS}}}General_Info")
    info = child(general, "Product_Info")
    start = _iso(scene.acquired, 3)
    for tag, text in (
        ("PRODUCT_START_TIME", start),
        ("PRODUCT_STOP_TIME", start),
        ("PRODUCT_URI", f"{names.product_id}.SAFE"),
        ("PROCESSING_LEVEL", "Level-2A"),
        ("PRODUCT_TYPE", "S2MSI2A"),
        ("PROCESSING_BASELINE", scene.baseline),
        ("GENERATION_TIME", _iso(names.generated, 6)),
        ("PREVIEW_IMAGE_URL", "Not applicable"),
        ("PREVIEW_GEO_INFO", "Not applicable"),
    ):
        child(info, tag, text)
    datatake = child(info, "Datatake", datatakeIdentifier=names.datatake_id)
    for tag, text in (
        ("SPACECRAFT_NAME", "Sentinel-2A"),
        ("DATATAKE_TYPE", "INS-NOBS"),
        ("DATATAKE_SENSING_START", start),
        ("SENSING_ORBIT_NUMBER", str(names.relative_orbit)),
        ("SENSING_ORBIT_DIRECTION", "DESCENDING"),
    ):
        child(datatake, tag, text)
    options = child(info, "Query_Options", completeSingleTile="true")
    child(options, "PRODUCT_FORMAT", "SAFE_COMPACT")
    granule = child(
        child(child(info, "Product_Organisation"), "Granule_List"),
        "Granule",
        datastripIdentifier=names.datastrip_id,
        granuleIdentifier=names.tile_id,
        imageFormat=image_format,
    )
    for image in image_files:
        child(granule, "IMAGE_FILE", image)

    characteristics = child(general, "Product_Image_Characteristics")
    for text, index in (("NODATA", "0"), ("SATURATED", "65535")):
        special = child(characteristics, "Special_Values")
        child(special, "SPECIAL_VALUE_TEXT", text)
        child(special, "SPECIAL_VALUE_INDEX", index)
    order = child(characteristics, "Image_Display_Order")
    for tag, channel in (("RED_CHANNEL", "3"), ("GREEN_CHANNEL", "2"), ("BLUE_CHANNEL", "1")):
        child(order, tag, channel)
    quantification = child(characteristics, "QUANTIFICATION_VALUES_LIST")
    child(quantification, "BOA_QUANTIFICATION_VALUE", f"{QUANTIFICATION_VALUE:.0f}", unit="none")
    child(quantification, "AOT_QUANTIFICATION_VALUE", "1000.0", unit="none")
    child(quantification, "WVP_QUANTIFICATION_VALUE", "1000.0", unit="cm")
    if scene.offset:
        offsets = child(characteristics, "BOA_ADD_OFFSET_VALUES_LIST")
        for band_id in range(len(_SPECTRAL_BANDS)):
            child(offsets, "BOA_ADD_OFFSET", f"{scene.offset:.0f}", band_id=str(band_id))
    spectral = child(characteristics, "Spectral_Information_List")
    for band_id, (physical, resolution, central) in enumerate(_SPECTRAL_BANDS):
        information = child(
            spectral, "Spectral_Information", bandId=str(band_id), physicalBand=physical
        )
        child(information, "RESOLUTION", str(resolution))
        child(child(information, "Wavelength"), "CENTRAL", f"{central}", unit="nm")
    child(characteristics, "REFERENCE_BAND", "3")
    classification = child(characteristics, "Scene_Classification_List")
    for code, name in enumerate(_SCL_NAMES):
        entry = child(classification, "Scene_Classification_ID")
        child(entry, "SCENE_CLASSIFICATION_TEXT", f"SC_{name}")
        child(entry, "SCENE_CLASSIFICATION_INDEX", str(code))

    geometric = child(root, f"{{{_USER_PRODUCT_NS}}}Geometric_Info")
    outer = child(geometric, "Product_Footprint")
    footprint = child(child(outer, "Product_Footprint"), "Global_Footprint")
    ring = footprint_lonlat(scene)
    text = " ".join(f"{lat!r} {lon!r}" for lon, lat in ring.tolist())
    child(footprint, "EXT_POS_LIST", f"{text} ")
    child(outer, "RASTER_CS_TYPE", "POINT")
    child(outer, "PIXEL_ORIGIN", "1")
    reference = child(geometric, "Coordinate_Reference_System")
    child(reference, "GEO_TABLES", "EPSG", version="1")
    child(reference, "HORIZONTAL_CS_TYPE", "GEOGRAPHIC")

    quality = child(root, f"{{{_USER_PRODUCT_NS}}}Quality_Indicators_Info")
    child(quality, "Cloud_Coverage_Assessment", f"{stats.cloud_percent:.6f}")
    _image_content(quality, stats, tile=False)
    return xml_bytes(root, 'standalone="no"')


def tile_xml(scene: SyntheticS2Scene, names: ProductNames, stats: SclStatistics) -> bytes:
    """GRANULE/<granule>/MTD_TL.xml: tile identity, grids, sun angle, quality."""
    ET.register_namespace("n1", _TILE_NS)
    root = ET.Element(f"{{{_TILE_NS}}}Level-2A_Tile_ID")
    general = child(root, f"{{{_TILE_NS}}}General_Info")
    child(general, "L1C_TILE_ID", names.l1c_tile_id, metadataLevel="Brief")
    child(general, "TILE_ID", names.tile_id, metadataLevel="Brief")
    child(general, "DATASTRIP_ID", names.datastrip_id, metadataLevel="Standard")
    child(general, "DOWNLINK_PRIORITY", "NOMINAL", metadataLevel="Standard")
    child(general, "SENSING_TIME", _iso(scene.acquired, 6), metadataLevel="Standard")
    archive = child(general, "Archiving_Info", metadataLevel="Expertise")
    child(archive, "ARCHIVING_CENTRE", "ATOS")
    child(archive, "ARCHIVING_TIME", _iso(names.generated + timedelta(minutes=31), 6))

    geometric = child(root, f"{{{_TILE_NS}}}Geometric_Info")
    geocoding = child(geometric, "Tile_Geocoding", metadataLevel="Brief")
    zone = int(scene.crs.to_epsg() or 0) % 100
    hemisphere = "N" if int(scene.crs.to_epsg() or 0) < 32700 else "S"
    child(geocoding, "HORIZONTAL_CS_NAME", f"WGS84 / UTM zone {zone}{hemisphere}")
    child(geocoding, "HORIZONTAL_CS_CODE", scene.crs.to_string())
    grids = {resolution: scene.grid(resolution) for resolution in RESOLUTIONS}
    for resolution, grid in grids.items():
        size = child(geocoding, "Size", resolution=str(resolution))
        child(size, "NROWS", str(grid.height))
        child(size, "NCOLS", str(grid.width))
    for resolution, grid in grids.items():
        position = child(geocoding, "Geoposition", resolution=str(resolution))
        child(position, "ULX", f"{grid.transform.c:.0f}")
        child(position, "ULY", f"{grid.transform.f:.0f}")
        child(position, "XDIM", f"{grid.transform.a:.0f}")
        child(position, "YDIM", f"{grid.transform.e:.0f}")
    angles = child(child(geometric, "Tile_Angles", metadataLevel="Standard"), "Mean_Sun_Angle")
    zenith, azimuth = scene.sun_angles
    child(angles, "ZENITH_ANGLE", f"{zenith:.12f}", unit="deg")
    child(angles, "AZIMUTH_ANGLE", f"{azimuth:.12f}", unit="deg")

    quality = child(root, f"{{{_TILE_NS}}}Quality_Indicators_Info", metadataLevel="Standard")
    _image_content(quality, stats, tile=True)
    return xml_bytes(root, 'standalone="no"')


# --------------------------------------------------------------------------------------
# Rasters and the product.


def _strips(scene: SyntheticS2Scene) -> list[Window]:
    """Full-width strips of the band grid, an even number of rows (whole SCL rows)."""
    edge = scene.grid(scene.resolution).width
    return [
        Window(0, row, edge, min(_STRIP_ROWS, edge - row)) for row in range(0, edge, _STRIP_ROWS)
    ]


def _digital_numbers(
    scene: SyntheticS2Scene, seen: npt.NDArray[np.float32]
) -> npt.NDArray[np.uint16]:
    """L2A DN of reflectance ``seen`` (NaN: no data, DN 0); valid DN stay in 1..65534."""
    dn = np.rint(seen * np.float32(QUANTIFICATION_VALUE) - np.float32(scene.offset))
    return np.where(np.isnan(seen), 0, np.clip(dn, 1, 65_534)).astype(np.uint16)


def _scene_classification(
    scene: SyntheticS2Scene,
    priority: npt.NDArray[np.uint8],
    red: npt.NDArray[np.float32],
    nir: npt.NDArray[np.float32],
) -> npt.NDArray[np.uint8]:
    """SCL of the band-grid pixels' parents on the SCL grid: the most severe child class
    (no data, cloud, cirrus, shadow), else vegetation, bare or water from the NDVI of the
    children's mean cloud-free reflectance."""
    factor = scene.scl_resolution // scene.resolution
    rows, cols = priority.shape[0] // factor, priority.shape[1] // factor

    def blocks(values: np.ndarray) -> np.ndarray:
        return values.reshape(rows, factor, cols, factor)

    worst = blocks(priority).max(axis=(1, 3))
    red_mean = blocks(red).mean(axis=(1, 3))
    nir_mean = blocks(nir).mean(axis=(1, 3))
    ndvi = (nir_mean - red_mean) / (nir_mean + red_mean)
    land = np.where(ndvi < 0.0, 6, np.where(ndvi > _NDVI_VEGETATION, 4, 5)).astype(np.uint8)
    return np.where(worst == 0, land, _PRIORITY_SCL[worst]).astype(np.uint8)


class _BlockRows:
    """A GeoTIFF written a whole row of blocks at a time: strips are gathered until they
    fill one, so no block is ever written in pieces (GDAL would otherwise keep partial
    blocks in its cache, or rewrite them once evicted)."""

    def __init__(self, path: Path, grid: Grid, dtype: str, block: int) -> None:
        self.block = block
        self.row = 0
        self.pending: list[np.ndarray] = []
        self.dataset = rasterio.open(
            path,
            "w",
            driver="GTiff",
            dtype=dtype,
            count=1,
            width=grid.width,
            height=grid.height,
            crs=grid.crs,
            transform=grid.transform,
            tiled=True,
            blockxsize=block,
            blockysize=block,
            compress="deflate",
            predictor=2,
            num_threads="ALL_CPUS",
            bigtiff="IF_SAFER",
        )

    def add(self, rows: np.ndarray) -> None:
        """Queue the next strip; write every completed row of blocks."""
        self.pending.append(rows)
        gathered = sum(len(part) for part in self.pending)
        if gathered >= self.block:
            stack = np.concatenate(self.pending)
            whole = gathered - gathered % self.block
            self._write(stack[:whole])
            self.pending = [stack[whole:]] if whole < gathered else []

    def close(self) -> None:
        """Write what is left and close the file."""
        if self.pending:
            self._write(np.concatenate(self.pending))
        self.dataset.close()

    def _write(self, rows: np.ndarray) -> None:
        window = Window(0, self.row, rows.shape[1], rows.shape[0])
        self.dataset.write(rows, 1, window=window)
        self.row += rows.shape[0]


def _write_rasters(
    scene: SyntheticS2Scene, paths: dict[str, Path], scl_path: Path
) -> SclStatistics:
    """Band and SCL GeoTIFFs, tiled like the product's JPEG 2000, strip by strip."""
    band_grid = scene.grid(scene.resolution)
    band_block = _JP2_BLOCKS[scene.resolution]
    counts = np.zeros(len(_SCL_NAMES), dtype=np.int64)
    writers = {
        band: _BlockRows(path, band_grid, "uint16", band_block) for band, path in paths.items()
    }
    scl_grid = scene.grid(scene.scl_resolution)
    scl = _BlockRows(scl_path, scl_grid, "uint8", _JP2_BLOCKS[scene.scl_resolution])
    try:
        for strip in progress(_strips(scene), desc="synthetic S2 strips", unit="strip"):
            sample = scene.landcover_sample(strip)
            sky = scene._sky(strip)
            valid = scene.valid_mask(strip)
            ground = {band: reflectance(sample.classes, band, sample.texture) for band in BANDS}
            for band, writer in writers.items():
                writer.add(_digital_numbers(scene, sky.seen(ground[band], valid)))
            classes = _scene_classification(
                scene, sky.priority(valid), ground["B04"], ground["B08"]
            )
            scl.add(classes)
            counts += np.bincount(classes.ravel(), minlength=counts.size)[: counts.size]
    finally:
        for writer in (*writers.values(), scl):
            writer.close()
    return SclStatistics(counts)


def _to_jp2(source: Path, target: Path, resolution: int) -> None:
    """Lossless JPEG 2000 with a real product's tiling; GDAL streams it block by block."""
    block = str(_JP2_BLOCKS[resolution])
    rasterio.shutil.copy(
        source,
        target,
        driver="JP2OpenJPEG",
        QUALITY="100",
        REVERSIBLE="YES",
        BLOCKXSIZE=block,
        BLOCKYSIZE=block,
    )
    source.unlink()


def _write_safe(scene: SyntheticS2Scene, names: ProductNames, safe: Path, jp2: bool) -> None:
    suffix = ".jp2" if jp2 else ".tif"
    files = {
        band: names.image_file(scene, file_band, scene.resolution)
        for band, file_band in scene.band_names.items()
    }
    scl_file = names.image_file(scene, "SCL", scene.scl_resolution)
    granule = safe / "GRANULE" / names.granule
    for resolution in {scene.resolution, scene.scl_resolution}:
        (granule / "IMG_DATA" / f"R{resolution}m").mkdir(parents=True, exist_ok=True)
    folder = safe.parent / "scratch" if jp2 else safe
    tiffs = {band: folder / f"{image}.tif" for band, image in files.items()}
    scl_tiff = folder / f"{scl_file}.tif"
    for path in (*tiffs.values(), scl_tiff):
        path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.Env(GDAL_CACHEMAX=_GDAL_CACHE_MB):
        stats = _write_rasters(scene, tiffs, scl_tiff)
        if jp2:
            for band, image in files.items():
                _to_jp2(tiffs[band], safe / f"{image}{suffix}", scene.resolution)
            _to_jp2(scl_tiff, safe / f"{scl_file}{suffix}", scene.scl_resolution)
    image_format = "JPEG2000" if jp2 else "GeoTIFF"
    entries = [*files.values(), scl_file]
    (safe / "MTD_MSIL2A.xml").write_bytes(product_xml(scene, names, entries, stats, image_format))
    (granule / "MTD_TL.xml").write_bytes(tile_xml(scene, names, stats))


def write_synthetic_s2(
    out_dir: str | Path,
    *,
    layout: SceneLayout | None = None,
    size: int | None = None,
    resolution: int = 10,
    seed: int = 0,
    cloud_fraction: float = 0.15,
    zip: bool = False,
    sensing_time: datetime | None = None,
    baseline: str = "04.00",
    jp2: bool = True,
) -> Path:
    """Write a synthetic S2A L2A SAFE product (or its zip) into ``out_dir``.

    The tile overlaps the synthetic Sentinel-1 scene of the same ``layout`` and ``seed``
    (see :class:`SyntheticS2Scene` for ``size``, ``resolution`` and ``sensing_time``).
    ``jp2=False`` writes tiled, deflated GeoTIFF band files (``.tif``, imageFormat
    ``GeoTIFF``) instead of lossless JPEG 2000, about twice as fast for a full tile.
    Same arguments, same pixels. The product appears under its final name only once
    complete. Returns the SAFE folder or zip.
    """
    scene = SyntheticS2Scene(
        layout=layout or SceneLayout(),
        seed=seed,
        size=size,
        resolution=resolution,
        cloud_fraction=cloud_fraction,
        sensing_time=sensing_time,
        baseline=baseline,
    )
    names = product_names(scene)
    return publish_safe(
        out_dir, names.product_id, lambda safe: _write_safe(scene, names, safe, jp2), zip=zip
    )
