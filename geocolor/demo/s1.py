"""Synthetic Sentinel-1 IW GRDH products, format-faithful to IPF 003.31, with known truth.

Readers, calibration and noise removal are tested against products whose DN come from a
known sigma0 field: the shared land-cover map (:mod:`geocolor.demo.landcover`) sampled at each
radar pixel, times gamma speckle, converted to DN with the product's own calibration LUT
and raised by its own noise LUTs::

    DN^2 = sigma0_true * speckle * A_sigma^2 + N_range * N_azimuth

The layout (manifest, annotation, calibration and noise XML, measurement GeoTIFFs with
GCPs) follows a real IPF 003.31 product element for element where a reader looks, so a
reader written against real files reads these unchanged, and GDAL's SAFE driver opens
them. Rasters are written strip by strip: memory stays bounded for full-size frames.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from geocolor.demo.landcover import (
    ORBIT_PERIOD,
    FloatArray,
    LandCoverModel,
    LandCoverSample,
    SceneLayout,
    sigma0_db,
)
from geocolor.demo.safe_writer import child, publish_safe, xml_bytes
from geocolor.errors import GeocolorError, UsageError
from geocolor.progress import progress

IPF_VERSION = "003.31"
BETA_NOUGHT = 474.0
"""Calibration amplitude of beta0 (constant across the swath in IPF 3 products)."""

SPEED_OF_LIGHT = 299_792_458.0
RADAR_FREQUENCY = 5.405000454334350e09
RANGE_SAMPLING_RATE = 6.434523812571428e07
TRUTH_TAG = "GEOCOLOR_SYNTHETIC_S1"
"""Measurement-TIFF metadata item holding the generator parameters, for the truth."""

_POL_INDEX = {"VV": 0, "VH": 1}
_SWATHS = ("IW1", "IW2", "IW3")
_SWATH_STARTS = (0.0, 0.337, 0.677)  # fractions of the samples, as in real IW GRDH frames
_NOISE_BASE = (1100.0, 700.0, 430.0)  # DN^2 at each swath's antenna-pattern peak
_SCALLOP_DEPTH = (0.13, 0.09, 0.11)
_BURST_SECONDS = 2.758
_VECTOR_SECONDS = 1.0  # calibration and noise range vectors: one per second
_LUT_PIXEL_STEP = 40
_NOISE_AZIMUTH_LINE_STEP = 10
_GEOLOCATION_SHAPE = (10, 21)
_SPECKLE_BLOCK_LINES = 1024
_MIN_SAMPLES = 64
_ORBIT_VECTOR_SECONDS = 10.0
_BORDER_NOISE_SAMPLES = 24  # width of the low-DN strips inside the no-data border ...
_BORDER_NOISE_LINES = 12  # ... and how many first and last lines hold them
_BORDER_NOISE_DN = 9  # their highest DN
_REFERENCE_ORBIT = 36_201  # absolute orbit of a known S1A pass ...
_REFERENCE_NODE = datetime(2021, 1, 19, 2, 22, 31, 388_113)  # ... and its node crossing
_REFERENCE_RELATIVE_ORBIT = 79
_REFERENCE_CYCLE = 221
_REFERENCE_DATATAKE = 0x043ED0


# --------------------------------------------------------------------------------------
# The known truth and the LUTs, shared by the writer and by tests.


@dataclass(frozen=True)
class SwathBounds:
    """The range samples (inclusive) one IW sub-swath covers in the merged GRD."""

    name: str
    first_sample: int
    last_sample: int


@dataclass(frozen=True)
class SyntheticS1Scene:
    """Everything that determines a synthetic product's pixels.

    ``landcover_step`` evaluates the land-cover map once per ``step x step`` block of
    radar pixels (at the block centre) and repeats it, which keeps full-size frames fast;
    :meth:`sigma0` returns exactly the field the DN were drawn from.
    """

    layout: SceneLayout = field(default_factory=SceneLayout)
    seed: int = 0
    looks: float = 4.4
    landcover_step: int = 2
    ipf_version: str = IPF_VERSION
    border_noise: bool = False

    def __post_init__(self) -> None:
        if self.layout.samples < _MIN_SAMPLES:
            raise UsageError(
                f"A synthetic IW scene needs at least {_MIN_SAMPLES} samples for its three "
                f"sub-swaths and no-data border, got {self.layout.samples}."
            )
        if self.looks <= 0:
            raise UsageError(f"looks must be positive, got {self.looks}.")
        if self.landcover_step < 1:
            raise UsageError(f"landcover_step must be >= 1, got {self.landcover_step}.")

    @property
    def landcover(self) -> LandCoverModel:
        """The land-cover map this scene samples."""
        return LandCoverModel(seed=self.seed)

    @property
    def swaths(self) -> tuple[SwathBounds, ...]:
        """IW1..IW3 splitting the range like a real merged frame."""
        starts = [round(f * self.layout.samples) for f in _SWATH_STARTS]
        stops = [*starts[1:], self.layout.samples]
        return tuple(
            SwathBounds(name, start, stop - 1)
            for name, start, stop in zip(_SWATHS, starts, stops, strict=True)
        )

    @property
    def _vector_line_step(self) -> float:
        return _VECTOR_SECONDS / self.layout.azimuth_time_interval

    # -- calibration ------------------------------------------------------------------

    @property
    def calibration_lines(self) -> npt.NDArray[np.int64]:
        """Lines of the calibration vectors: one per second, running past the last line."""
        step = self._vector_line_step
        count = math.ceil((self.layout.lines - 1) / step) + 2
        lines: npt.NDArray[np.int64] = np.rint(np.arange(count) * step).astype(np.int64)
        return lines

    @property
    def calibration_pixels(self) -> npt.NDArray[np.int64]:
        """Pixels of every calibration vector: every 40th sample and the last one."""
        return _with_last(np.arange(0, self.layout.samples, _LUT_PIXEL_STEP), self.layout.samples)

    def calibration_vector(self, kind: str) -> npt.NDArray[np.float64]:
        """One calibration vector (``sigmaNought``, ``betaNought``, ``gamma`` or ``dn``);
        it is the same for every line, as in real GRD products."""
        incidence = np.radians(self.layout.incidence_angle(self.calibration_pixels))
        beta = np.full(incidence.shape, BETA_NOUGHT)
        vectors = {
            "sigmaNought": beta / np.sqrt(np.sin(incidence)),
            "betaNought": beta,
            "gamma": beta / np.sqrt(np.tan(incidence)),
            "dn": beta,
        }
        return vectors[kind]

    def calibration_amplitude(self, window: Window) -> npt.NDArray[np.float32]:
        """A_sigma (DN per sqrt(sigma0)) at each column of ``window``, shape (1, cols)."""
        _, cols = _window_ranges(window, self.layout)
        amplitude = np.interp(
            np.arange(*cols), self.calibration_pixels, self.calibration_vector("sigmaNought")
        )
        return amplitude.astype(np.float32)[None, :]

    # -- thermal noise ----------------------------------------------------------------

    @property
    def noise_range_lines(self) -> npt.NDArray[np.int64]:
        """Lines of the noise range vectors: one per second, then the last line."""
        last = self.layout.lines - 1
        lines = np.floor(np.arange(0.0, last, self._vector_line_step)).astype(np.int64)
        return _with_last(lines, last + 1)

    @property
    def noise_range_pixels(self) -> npt.NDArray[np.int64]:
        """Every 40th sample of each sub-swath from its first, and its last sample."""
        parts = [
            _with_last(
                np.arange(s.first_sample, s.last_sample + 1, _LUT_PIXEL_STEP), s.last_sample + 1
            )
            for s in self.swaths
        ]
        return np.concatenate(parts)

    def noise_range_lut(self) -> npt.NDArray[np.float64]:
        """Noise power (DN^2) on (noise_range_lines x noise_range_pixels): a bowl per
        sub-swath (the inverse antenna pattern), drifting slowly along azimuth."""
        pixels = self.noise_range_pixels
        profile = np.empty(pixels.shape)
        for swath, base in zip(self.swaths, _NOISE_BASE, strict=True):
            inside = (pixels >= swath.first_sample) & (pixels <= swath.last_sample)
            span = max(swath.last_sample - swath.first_sample, 1)
            position = (pixels[inside] - swath.first_sample) / span
            profile[inside] = base * (1.0 + 4.0 * (position - 0.55) ** 2)
        seconds = self.noise_range_lines * self.layout.azimuth_time_interval
        wave: npt.NDArray[np.float64] = np.sin(2.0 * math.pi * seconds / 40.0 + self.seed)
        drift = 1.0 + 0.01 * wave
        return drift[:, None] * profile[None, :]

    @property
    def noise_azimuth_lines(self) -> npt.NDArray[np.int64]:
        """Lines of each sub-swath's azimuth noise vector: every 10th, then the last."""
        return _with_last(
            np.arange(0, self.layout.lines, _NOISE_AZIMUTH_LINE_STEP), self.layout.lines
        )

    def noise_azimuth_lut(self, swath_index: int) -> npt.NDArray[np.float64]:
        """Relative noise scalloping of one sub-swath along its azimuth lines."""
        seconds = self.noise_azimuth_lines * self.layout.azimuth_time_interval
        phase = 2.0 * math.pi * seconds / _BURST_SECONDS + 2.1 * swath_index
        wave: npt.NDArray[np.float64] = np.cos(phase)
        return 1.0 + _SCALLOP_DEPTH[swath_index] * 0.5 * (1.0 - wave)

    def noise_power(self, window: Window) -> npt.NDArray[np.float32]:
        """Thermal noise N (DN^2) in ``window``: the range LUT, bilinear in line and pixel,
        times the azimuth LUT of each pixel's sub-swath, linear in line."""
        rows, cols = _window_ranges(window, self.layout)
        lines = np.arange(*rows, dtype=np.float64)
        pixels = np.arange(*cols, dtype=np.float64)
        lut = self.noise_range_lut()
        vectors = np.stack([np.interp(pixels, self.noise_range_pixels, row) for row in lut])
        vectors = vectors.astype(np.float32)
        vector_lines = self.noise_range_lines
        upper = np.clip(
            np.searchsorted(vector_lines, lines, side="right"), 1, len(vector_lines) - 1
        )
        lower = upper - 1
        weight = (lines - vector_lines[lower]) / (vector_lines[upper] - vector_lines[lower])
        weight = weight.astype(np.float32)[:, None]
        noise = vectors[lower]
        noise += weight * (vectors[upper] - noise)
        for index, swath in enumerate(self.swaths):
            first = max(swath.first_sample, cols[0]) - cols[0]
            last = min(swath.last_sample + 1, cols[1]) - cols[0]
            if first < last:
                scallop = np.interp(lines, self.noise_azimuth_lines, self.noise_azimuth_lut(index))
                noise[:, first:last] *= scallop.astype(np.float32)[:, None]
        return noise

    # -- scene content ------------------------------------------------------------------

    def classes(self, window: Window) -> npt.NDArray[np.uint8]:
        """Land-cover class of each pixel of ``window`` (as used for the DN)."""
        return self.landcover_sample(window).classes

    def sigma0(self, pol: str, window: Window) -> npt.NDArray[np.float32]:
        """Noiseless, speckle-free linear sigma0 the DN of ``window`` were drawn from."""
        sample = self.landcover_sample(window)
        return _linear(sigma0_db(sample.classes, pol, sample.texture))

    def valid_mask(self, window: Window) -> npt.NDArray[np.bool_]:
        """False on the no-data border (DN = 0): a few samples, ragged, at both line ends."""
        rows, cols = _window_ranges(window, self.layout)
        lines = np.arange(*rows)
        near = self._border_width(lines, salt=1)
        far = self._border_width(lines, salt=2)
        samples = np.arange(*cols)[None, :]
        return (samples >= near[:, None]) & (samples < self.layout.samples - far[:, None])

    def noisy_border(self, window: Window) -> npt.NDArray[np.bool_]:
        """Where a product written with ``border_noise`` holds low, non-zero DN: strips
        inside the valid area's near and far edges and the first and last lines, as
        products of IPF before 2.90 do; all False without ``border_noise``."""
        rows, cols = _window_ranges(window, self.layout)
        if not self.border_noise:
            return np.zeros((rows[1] - rows[0], cols[1] - cols[0]), dtype=bool)
        lines = np.arange(*rows)
        near = self._border_width(lines, salt=1) + _BORDER_NOISE_SAMPLES
        far = self._border_width(lines, salt=2) + _BORDER_NOISE_SAMPLES
        samples = np.arange(*cols)[None, :]
        strips = (samples < near[:, None]) | (samples >= self.layout.samples - far[:, None])
        end_lines = (lines < _BORDER_NOISE_LINES) | (
            lines >= self.layout.lines - _BORDER_NOISE_LINES
        )
        noisy: npt.NDArray[np.bool_] = (strips | end_lines[:, None]) & self.valid_mask(window)
        return noisy

    def _border_width(self, lines: npt.NDArray[np.int64], salt: int) -> npt.NDArray[np.int64]:
        phase = 2.0 * math.pi * (self.seed * 0.618 + salt * 0.31)
        smooth = 0.5 + 0.5 * np.sin(2.0 * math.pi * lines / 3_000.0 + phase)
        jitter = np.random.default_rng([self.seed, salt]).integers(0, 3, self.layout.lines)
        width: npt.NDArray[np.int64] = 3 + np.rint(4.0 * smooth).astype(np.int64) + jitter[lines]
        return width

    def landcover_sample(self, window: Window) -> LandCoverSample:
        """Land cover at block centres of the ``landcover_step`` grid, repeated per pixel."""
        rows, cols = _window_ranges(window, self.layout)
        step = self.landcover_step
        block_rows = np.arange(rows[0] // step, (rows[1] - 1) // step + 1)
        block_cols = np.arange(cols[0] // step, (cols[1] - 1) // step + 1)
        centre = (step - 1) / 2.0
        lon, lat = self.layout.lonlat(
            (block_rows * step + centre)[:, None], (block_cols * step + centre)[None, :]
        )
        sample = self.landcover.evaluate(lon, lat)
        row_index = np.arange(*rows) // step - block_rows[0]
        col_index = np.arange(*cols) // step - block_cols[0]
        pick = np.ix_(row_index, col_index)
        return LandCoverSample(sample.classes[pick], sample.texture[pick])

    def to_json(self) -> str:
        """The parameters, for the measurement TIFF's truth tag."""
        layout = dataclasses.asdict(self.layout)
        layout["start_time"] = self.layout.start_time.isoformat()
        record = {
            "layout": layout,
            "seed": self.seed,
            "looks": self.looks,
            "landcover_step": self.landcover_step,
        }
        # only when not the default, so products written before these options keep their bytes
        if self.ipf_version != IPF_VERSION:
            record["ipf_version"] = self.ipf_version
        if self.border_noise:
            record["border_noise"] = True
        return json.dumps(record)

    @classmethod
    def from_json(cls, text: str) -> SyntheticS1Scene:
        """Rebuild the scene from :meth:`to_json` output."""
        record = json.loads(text)
        layout = dict(record["layout"])
        layout["start_time"] = datetime.fromisoformat(layout["start_time"])
        return cls(
            layout=SceneLayout(**layout),
            seed=record["seed"],
            looks=record["looks"],
            landcover_step=record["landcover_step"],
            ipf_version=record.get("ipf_version", IPF_VERSION),
            border_noise=record.get("border_noise", False),
        )

    @classmethod
    def from_product(cls, path: str | Path) -> SyntheticS1Scene:
        """The scene a synthetic product (SAFE folder, its manifest.safe, or zip) was
        written from, read from its measurement TIFF's truth tag."""
        tiff = _measurement_uri(Path(path))
        with rasterio.open(tiff) as src:
            text = src.tags().get(TRUTH_TAG)
        if text is None:
            raise GeocolorError(f"{path} is not a geocolor synthetic product (no {TRUTH_TAG} tag).")
        return cls.from_json(text)


def true_sigma0(
    source: str | Path | SceneLayout | SyntheticS1Scene,
    pol: str,
    window: Window,
    *,
    seed: int = 0,
) -> npt.NDArray[np.float32]:
    """Noiseless linear sigma0 on ``window`` of a synthetic product (path), a scene, or
    a layout (with ``seed``), for comparing a calibrated, denoised result with the truth."""
    if isinstance(source, SyntheticS1Scene):
        scene = source
    elif isinstance(source, SceneLayout):
        scene = SyntheticS1Scene(layout=source, seed=seed)
    else:
        scene = SyntheticS1Scene.from_product(source)
    return scene.sigma0(pol, window)


def _linear(db: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    linear: npt.NDArray[np.float32] = np.power(np.float32(10.0), db / np.float32(10.0))
    return linear


def _with_last(values: npt.NDArray[np.int64], stop: int) -> npt.NDArray[np.int64]:
    """``values`` ending exactly on ``stop - 1``, as real LUT grids do."""
    if values.size and values[-1] == stop - 1:
        return values.astype(np.int64)
    return np.append(values, stop - 1).astype(np.int64)


def _window_ranges(window: Window, layout: SceneLayout) -> tuple[tuple[int, int], tuple[int, int]]:
    rows, cols = window.toranges()
    r0, r1 = int(rows[0]), int(rows[1])
    c0, c1 = int(cols[0]), int(cols[1])
    if not (0 <= r0 < r1 <= layout.lines and 0 <= c0 < c1 <= layout.samples):
        raise UsageError(
            f"Window {window} is outside the {layout.lines} x {layout.samples} synthetic scene."
        )
    return (r0, r1), (c0, c1)


def _measurement_uri(path: Path) -> str:
    """A GDAL path to the first measurement TIFF of a SAFE folder, manifest or zip."""
    if path.name == "manifest.safe":
        path = path.parent
    if path.suffix.lower() == ".zip" and path.is_file():
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if "/measurement/" in n and n.endswith(".tiff")]
        if not names:
            raise GeocolorError(f"{path} holds no measurement/*.tiff.")
        return f"/vsizip/{path.resolve()}/{sorted(names)[0]}"
    tiffs = sorted((path / "measurement").glob("*.tiff"))
    if not tiffs:
        raise GeocolorError(f"{path} holds no measurement/*.tiff.")
    return str(tiffs[0])


# --------------------------------------------------------------------------------------
# Names.


@dataclass(frozen=True)
class ProductNames:
    """Product identifier and per-polarisation file stems, built like ESA's."""

    product_id: str
    stems: dict[str, str]
    absolute_orbit: int
    relative_orbit: int
    cycle: int
    datatake: int


def product_names(scene: SyntheticS1Scene, polarisations: Sequence[str]) -> ProductNames:
    """ESA names: S1A_IW_GRDH_1SDV_<start>_<stop>_<orbit>_<datatake>_<crc>.SAFE and
    s1a-iw-grd-<pol>-<start>-<stop>-<orbit>-<datatake>-<image number> per file."""
    layout = scene.layout
    orbits_since = round(
        (layout.ascending_node_time - _REFERENCE_NODE).total_seconds() / ORBIT_PERIOD
    )
    absolute = _REFERENCE_ORBIT + orbits_since
    relative = (_REFERENCE_RELATIVE_ORBIT - 1 + orbits_since) % 175 + 1
    cycle = _REFERENCE_CYCLE + (_REFERENCE_RELATIVE_ORBIT - 1 + orbits_since) // 175
    datatake = (_REFERENCE_DATATAKE + 7 * orbits_since + scene.seed) % 0x1000000
    start = layout.start_time.strftime("%Y%m%dT%H%M%S")
    stop = layout.stop_time.strftime("%Y%m%dT%H%M%S")
    kind = "1SDV" if len(polarisations) == 2 else "1SSV"
    stem = f"S1A_IW_GRDH_{kind}_{start}_{stop}_{absolute:06d}_{datatake:06X}"
    crc = zlib.crc32(f"{stem}:{scene.to_json()}".encode()) & 0xFFFF
    stems = {
        pol: (
            f"s1a-iw-grd-{pol.lower()}-{start.lower()}-{stop.lower()}-{absolute:06d}"
            f"-{datatake:06x}-{index:03d}"
        )
        for index, pol in enumerate(polarisations, start=1)
    }
    return ProductNames(f"{stem}_{crc:04X}", stems, absolute, relative, cycle, datatake)


# --------------------------------------------------------------------------------------
# XML.


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _e15(value: float) -> str:
    return f"{value:.15e}"


def _e6(value: float) -> str:
    return f"{value:.6e}"


def _array(parent: ET.Element, tag: str, values: npt.ArrayLike, fmt: str) -> ET.Element:
    flat = np.asarray(values).ravel()
    text = " ".join(format(v, fmt) for v in flat.tolist())
    return child(parent, tag, text, count=str(flat.size))


def _ads_header(parent: ET.Element, scene: SyntheticS1Scene, names: ProductNames, pol: str) -> None:
    header = child(parent, "adsHeader")
    layout = scene.layout
    for tag, text in (
        ("missionId", "S1A"),
        ("productType", "GRD"),
        ("polarisation", pol),
        ("mode", "IW"),
        ("swath", "IW"),
        ("startTime", _utc(layout.start_time)),
        ("stopTime", _utc(layout.stop_time)),
        ("absoluteOrbitNumber", str(names.absolute_orbit)),
        ("missionDataTakeId", str(names.datatake)),
        ("imageNumber", names.stems[pol][-3:]),
    ):
        child(header, tag, text)


@dataclass(frozen=True)
class DnStatistics:
    """Mean and standard deviation of a measurement's DN (annotated as imageStatistics)."""

    mean: float
    std: float


def _image_statistics(parent: ET.Element, stats: DnStatistics) -> None:
    statistics = child(parent, "imageStatistics")
    for tag, value in (("outputDataMean", stats.mean), ("outputDataStdDev", stats.std)):
        pair = child(statistics, tag)
        child(pair, "re", _e6(value))
        child(pair, "im", _e6(0.0))


def annotation_xml(
    scene: SyntheticS1Scene, names: ProductNames, pol: str, stats: DnStatistics
) -> bytes:
    """The product annotation (annotation/s1a-iw-grd-<pol>-....xml)."""
    layout = scene.layout
    root = ET.Element("product")
    _ads_header(root, scene, names, pol)
    quality = child(root, "qualityInformation")
    child(quality, "productQualityIndex", _e15(0.0))
    _general_annotation(root, scene)
    _image_annotation(root, scene, stats)
    timing = child(root, "swathTiming")
    child(timing, "linesPerBurst", "0")
    child(timing, "samplesPerBurst", "0")
    child(timing, "burstList", count="0")
    _geolocation_grid(root, layout)
    _coordinate_conversion(root, scene)
    merging = child(root, "swathMerging")
    merge_list = child(merging, "swathMergeList", count=str(len(scene.swaths)))
    for swath in scene.swaths:
        merge = child(merge_list, "swathMerge")
        child(merge, "swath", swath.name)
        bounds_list = child(merge, "swathBoundsList", count="1")
        bounds = child(bounds_list, "swathBounds")
        child(bounds, "azimuthTime", _utc(layout.start_time))
        child(bounds, "firstAzimuthLine", "0")
        child(bounds, "firstRangeSample", str(swath.first_sample))
        child(bounds, "lastAzimuthLine", str(layout.lines - 1))
        child(bounds, "lastRangeSample", str(swath.last_sample))
    return xml_bytes(root)


def _general_annotation(root: ET.Element, scene: SyntheticS1Scene) -> None:
    layout = scene.layout
    general = child(root, "generalAnnotation")
    info = child(general, "productInformation")
    for tag, text in (
        ("pass", layout.orbit_pass.capitalize()),
        ("timelinessCategory", "Fast-24h"),
        ("platformHeading", _e15(layout.heading)),
        ("projection", "Ground Range"),
        ("rangeSamplingRate", _e15(RANGE_SAMPLING_RATE)),
        ("radarFrequency", _e15(RADAR_FREQUENCY)),
        ("azimuthSteeringRate", _e15(1.590368784)),
    ):
        child(info, tag, text)
    span = (layout.stop_time - layout.start_time).total_seconds()
    offsets = np.arange(-2, math.ceil(span / _ORBIT_VECTOR_SECONDS) + 3) * _ORBIT_VECTOR_SECONDS
    positions, velocities = layout.orbit_state(offsets)
    orbits = child(general, "orbitList", count=str(offsets.size))
    for offset, position, velocity in zip(offsets, positions, velocities, strict=True):
        orbit = child(orbits, "orbit")
        child(orbit, "time", _utc(layout.start_time + timedelta(seconds=float(offset))))
        child(orbit, "frame", "Earth Fixed")
        for tag, vector in (("position", position), ("velocity", velocity)):
            element = child(orbit, tag)
            for axis, value in zip("xyz", vector, strict=True):
                child(element, axis, _e15(float(value)))
    heights = child(general, "terrainHeightList", count="1")
    height = child(heights, "terrainHeight")
    child(height, "azimuthTime", _utc(layout.line_time((layout.lines - 1) / 2.0)))
    child(height, "value", _e15(0.0))


def _image_annotation(root: ET.Element, scene: SyntheticS1Scene, stats: DnStatistics) -> None:
    layout = scene.layout
    image = child(root, "imageAnnotation")
    info = child(image, "imageInformation")
    child(info, "productFirstLineUtcTime", _utc(layout.start_time))
    child(info, "productLastLineUtcTime", _utc(layout.stop_time))
    child(info, "ascendingNodeTime", _utc(layout.ascending_node_time))
    child(info, "anchorTime", _utc(layout.start_time))
    child(info, "productComposition", "Slice")
    child(info, "sliceNumber", "1")
    slices = child(info, "sliceList", count="1")
    piece = child(slices, "slice")
    child(piece, "sliceNumber", "1")
    child(piece, "sensingStartTime", _utc(layout.start_time))
    child(piece, "sensingStopTime", _utc(layout.stop_time))
    near_time = 2.0 * float(layout.slant_range(0)) / SPEED_OF_LIGHT
    child(info, "slantRangeTime", _e15(near_time))
    child(info, "pixelValue", "Detected")
    child(info, "outputPixels", "16 bit Unsigned Integer")
    child(info, "rangePixelSpacing", _e6(layout.pixel_spacing))
    child(info, "azimuthPixelSpacing", _e6(layout.pixel_spacing))
    child(info, "azimuthTimeInterval", _e15(layout.azimuth_time_interval))
    child(info, "azimuthFrequency", _e15(1.0 / layout.azimuth_time_interval))
    child(info, "numberOfSamples", str(layout.samples))
    child(info, "numberOfLines", str(layout.lines))
    child(info, "zeroDopMinusAcqTime", _e15(0.0))
    mid = float(layout.incidence_angle((layout.samples - 1) / 2.0))
    child(info, "incidenceAngleMidSwath", _e15(mid))
    _image_statistics(info, stats)
    processing = child(image, "processingInformation")
    for tag, text in (
        ("rawDataAnalysisUsed", "true"),
        ("orbitDataFileUsed", "true"),
        ("attitudeDataFileUsed", "false"),
        ("rxVariationCorrectionApplied", "true"),
        ("antennaElevationPatternApplied", "true"),
        ("antennaAzimuthPatternApplied", "true"),
        ("antennaAzimuthElementPatternApplied", "true"),
        ("dcMethod", "Data Analysis"),
        ("dcInputData", "Range Compressed"),
        ("rangeSpreadingLossCompensationApplied", "true"),
        ("srgrConversionApplied", "true"),
        ("detectionPerformed", "true"),
        ("thermalNoiseCorrectionPerformed", "false"),
        ("chirpSource", "Nominal"),
        ("pgSource", "Extracted"),
        ("rrfSpectrum", "Extended Tapered"),
        ("applicationLutId", "IW_Default"),
    ):
        child(processing, tag, text)
    params = child(processing, "swathProcParamsList", count=str(len(scene.swaths)))
    for swath in scene.swaths:
        swath_params = child(params, "swathProcParams")
        child(swath_params, "swath", swath.name)
        for direction, looks, bandwidth in (
            ("rangeProcessing", 5, 5.65e7),
            ("azimuthProcessing", 1, 3.27e2),
        ):
            block = child(swath_params, direction)
            child(block, "windowType", "Hamming")
            child(block, "windowCoefficient", _e15(0.7))
            child(block, "totalBandwidth", _e15(bandwidth))
            child(block, "processingBandwidth", _e15(bandwidth))
            child(block, "lookBandwidth", _e15(bandwidth / looks))
            child(block, "numberOfLooks", str(looks))
            child(block, "lookOverlap", _e15(0.0))
        child(swath_params, "processorScalingFactor", _e6(8.802781e11))
    for tag, text in (
        ("referenceRange", _e15(8.0e5)),
        ("ellipsoidName", "WGS84"),
        ("ellipsoidSemiMajorAxis", _e15(6_378_137.0)),
        ("ellipsoidSemiMinorAxis", _e15(6_356_752.314245)),
        ("bistaticDelayCorrectionApplied", "true"),
        ("topsFilterConvention", "Only Echo Lines"),
        ("orbitSource", "Auxiliary"),
        ("attitudeSource", "Downlink"),
    ):
        child(processing, tag, text)


@dataclass(frozen=True)
class GeolocationGrid:
    """The annotation's tie-point grid (line x pixel), also the measurement GCPs."""

    lines: npt.NDArray[np.int64]
    pixels: npt.NDArray[np.int64]
    longitude: FloatArray
    latitude: FloatArray
    height: FloatArray


def geolocation_grid(layout: SceneLayout) -> GeolocationGrid:
    """About 10 x 21 tie points spanning the image, first and last line and pixel included."""
    n_lines, n_pixels = _GEOLOCATION_SHAPE
    lines = np.unique(np.rint(np.linspace(0, layout.lines - 1, n_lines)).astype(np.int64))
    pixels = np.unique(np.rint(np.linspace(0, layout.samples - 1, n_pixels)).astype(np.int64))
    lon, lat = layout.lonlat(lines[:, None], pixels[None, :])
    return GeolocationGrid(lines, pixels, lon, lat, np.zeros(lon.shape))


def _geolocation_grid(root: ET.Element, layout: SceneLayout) -> None:
    grid = geolocation_grid(layout)
    element = child(child(root, "geolocationGrid"), "geolocationGridPointList")
    element.set("count", str(grid.longitude.size))
    slant_time = 2.0 * layout.slant_range(grid.pixels) / SPEED_OF_LIGHT
    incidence = layout.incidence_angle(grid.pixels)
    elevation = layout.elevation_angle(grid.pixels)
    for i, line in enumerate(grid.lines.tolist()):
        for j, pixel in enumerate(grid.pixels.tolist()):
            point = child(element, "geolocationGridPoint")
            child(point, "azimuthTime", _utc(layout.line_time(line)))
            child(point, "slantRangeTime", _e15(float(slant_time[j])))
            child(point, "line", str(line))
            child(point, "pixel", str(pixel))
            child(point, "latitude", _e15(float(grid.latitude[i, j])))
            child(point, "longitude", _e15(float(grid.longitude[i, j])))
            child(point, "height", _e15(float(grid.height[i, j])))
            child(point, "incidenceAngle", _e15(float(incidence[j])))
            child(point, "elevationAngle", _e15(float(elevation[j])))


def _coordinate_conversion(root: ET.Element, scene: SyntheticS1Scene) -> None:
    """Slant <-> ground range polynomials, one set per noise-vector time (they are the
    same for every line of this geometry)."""
    layout = scene.layout
    pixels = np.linspace(0, layout.samples - 1, 200)
    ground = pixels * layout.pixel_spacing
    slant = layout.slant_range(pixels)
    sr0 = float(slant[0])
    degree = 8  # nine coefficients, as IPF writes: centimetre-level over a full swath
    gr_to_sr = np.polynomial.Polynomial.fit(ground, slant, degree).convert().coef
    sr_to_gr = np.polynomial.Polynomial.fit(slant - sr0, ground, degree).convert().coef
    lines = scene.noise_range_lines
    element = child(child(root, "coordinateConversion"), "coordinateConversionList")
    element.set("count", str(lines.size))
    for line in lines.tolist():
        entry = child(element, "coordinateConversion")
        child(entry, "azimuthTime", _utc(layout.line_time(line)))
        child(entry, "slantRangeTime", _e15(2.0 * sr0 / SPEED_OF_LIGHT))
        child(entry, "sr0", _e15(sr0))
        _array(entry, "srgrCoefficients", sr_to_gr, ".15e")
        child(entry, "gr0", _e15(0.0))
        _array(entry, "grsrCoefficients", gr_to_sr, ".15e")


def calibration_xml(scene: SyntheticS1Scene, names: ProductNames, pol: str) -> bytes:
    """annotation/calibration/calibration-s1a-iw-grd-<pol>-....xml."""
    layout = scene.layout
    root = ET.Element("calibration")
    _ads_header(root, scene, names, pol)
    info = child(root, "calibrationInformation")
    child(info, "absoluteCalibrationConstant", _e6(1.0))
    lines = scene.calibration_lines
    vector_list = child(root, "calibrationVectorList", count=str(lines.size))
    vectors = {
        kind: scene.calibration_vector(kind)
        for kind in ("sigmaNought", "betaNought", "gamma", "dn")
    }
    for line in lines.tolist():
        vector = child(vector_list, "calibrationVector")
        child(vector, "azimuthTime", _utc(layout.line_time(line)))
        child(vector, "line", str(line))
        _array(vector, "pixel", scene.calibration_pixels, "d")
        for kind, values in vectors.items():
            _array(vector, kind, values, ".6e")
    return xml_bytes(root)


def noise_xml(scene: SyntheticS1Scene, names: ProductNames, pol: str) -> bytes:
    """annotation/calibration/noise-s1a-iw-grd-<pol>-....xml in the IPF >= 2.9 layout."""
    layout = scene.layout
    root = ET.Element("noise")
    _ads_header(root, scene, names, pol)
    lines = scene.noise_range_lines
    lut = scene.noise_range_lut()
    range_list = child(root, "noiseRangeVectorList", count=str(lines.size))
    for line, values in zip(lines.tolist(), lut, strict=True):
        vector = child(range_list, "noiseRangeVector")
        child(vector, "azimuthTime", _utc(layout.line_time(line)))
        child(vector, "line", str(line))
        _array(vector, "pixel", scene.noise_range_pixels, "d")
        _array(vector, "noiseRangeLut", values, ".6e")
    azimuth_list = child(root, "noiseAzimuthVectorList", count=str(len(scene.swaths)))
    for index, swath in enumerate(scene.swaths):
        vector = child(azimuth_list, "noiseAzimuthVector")
        child(vector, "swath", swath.name)
        child(vector, "firstAzimuthLine", "0")
        child(vector, "firstRangeSample", str(swath.first_sample))
        child(vector, "lastAzimuthLine", str(layout.lines - 1))
        child(vector, "lastRangeSample", str(swath.last_sample))
        _array(vector, "line", scene.noise_azimuth_lines, "d")
        _array(vector, "noiseAzimuthLut", scene.noise_azimuth_lut(index), ".6e")
    return xml_bytes(root)


# --------------------------------------------------------------------------------------
# manifest.safe


_NAMESPACES = {
    "xfdu": "urn:ccsds:schema:xfdu:1",
    "gml": "http://www.opengis.net/gml",
    "safe": "http://www.esa.int/safe/sentinel-1.0",
    "s1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1",
    "s1sarl1": "http://www.esa.int/safe/sentinel-1.0/sentinel-1/sar/level-1",
}


def _q(name: str) -> str:
    """ElementTree's {uri}tag for a prefixed manifest name like ``safe:platform``."""
    prefix, _, local = name.rpartition(":")
    return f"{{{_NAMESPACES[prefix]}}}{local}" if prefix else local


@dataclass(frozen=True)
class DataFile:
    """One file the manifest points to: its dataObject ID, schema and path in the SAFE."""

    object_id: str
    rep_id: str
    href: str
    mime_type: str


def _data_files(names: ProductNames, pol: str) -> tuple[DataFile, DataFile, DataFile, DataFile]:
    stem = names.stems[pol]
    compact = stem.replace("-", "")
    return (
        DataFile(
            f"product{compact}", "s1Level1ProductSchema", f"./annotation/{stem}.xml", "text/xml"
        ),
        DataFile(
            f"noise{compact}",
            "s1Level1NoiseSchema",
            f"./annotation/calibration/noise-{stem}.xml",
            "text/xml",
        ),
        DataFile(
            f"calibration{compact}",
            "s1Level1CalibrationSchema",
            f"./annotation/calibration/calibration-{stem}.xml",
            "text/xml",
        ),
        DataFile(
            compact,
            "s1Level1MeasurementSchema",
            f"./measurement/{stem}.tiff",
            "application/octet-stream",
        ),
    )


def manifest_xml(
    scene: SyntheticS1Scene, names: ProductNames, polarisations: Sequence[str], safe_dir: Path
) -> bytes:
    """manifest.safe: package map, metadata and one dataObject (size, MD5) per file."""
    for prefix, uri in _NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    root = ET.Element(
        _q("xfdu:XFDU"), version="esa/safe/sentinel-1.0/sentinel-1/sar/level-1/grd/standard/iwdp"
    )
    package = child(child(root, "informationPackageMap"), _q("xfdu:contentUnit"))
    package.attrib.update(
        {
            "unitType": "SAFE Archive Information Package",
            "textInfo": "Sentinel-1 IW Level-1 GRD Product",
            "dmdID": "acquisitionPeriod platform generalProductInformation "
            "measurementOrbitReference measurementFrameSet",
            "pdiID": "processing",
        }
    )
    files = {pol: _data_files(names, pol) for pol in polarisations}
    for pol in polarisations:
        for data in files[pol][:3]:
            unit = child(
                package, _q("xfdu:contentUnit"), unitType="Metadata Unit", repID=data.rep_id
            )
            child(unit, "dataObjectPointer", dataObjectID=data.object_id)
    for pol in polarisations:
        measurement = files[pol][3]
        annotations = "".join(f"{data.object_id}Annotation " for data in files[pol][:3])
        unit = child(
            package,
            _q("xfdu:contentUnit"),
            unitType="Measurement Data Unit",
            repID=measurement.rep_id,
            dmdID=annotations,
        )
        child(unit, "dataObjectPointer", dataObjectID=measurement.object_id)
    metadata = child(root, "metadataSection")
    for pol in polarisations:
        for data in files[pol][:3]:
            obj = child(
                metadata,
                "metadataObject",
                ID=f"{data.object_id}Annotation",
                classification="DESCRIPTION",
                category="DMD",
            )
            child(obj, "dataObjectPointer", dataObjectID=data.object_id)
    _manifest_metadata(metadata, scene, names, polarisations)
    section = child(root, "dataObjectSection")
    for pol in polarisations:
        for data in files[pol]:
            path = safe_dir / data.href
            obj = child(section, "dataObject", ID=data.object_id, repID=data.rep_id)
            stream = child(
                obj, "byteStream", mimeType=data.mime_type, size=str(path.stat().st_size)
            )
            child(stream, "fileLocation", locatorType="URL", href=data.href)
            child(stream, "checksum", _md5(path), checksumName="MD5")
    return xml_bytes(root)


def _wrap(section: ET.Element, object_id: str, text_info: str, category: str = "DMD") -> ET.Element:
    classification = "PROVENANCE" if category == "PDI" else "DESCRIPTION"
    obj = child(
        section, "metadataObject", ID=object_id, classification=classification, category=category
    )
    wrap = child(
        obj, "metadataWrap", mimeType="text/xml", vocabularyName="SAFE", textInfo=text_info
    )
    return child(wrap, "xmlData")


def _manifest_metadata(
    section: ET.Element, scene: SyntheticS1Scene, names: ProductNames, polarisations: Sequence[str]
) -> None:
    layout = scene.layout
    now = _utc(layout.stop_time + timedelta(hours=3))
    processing = child(
        _wrap(section, "processing", "Processing", "PDI"),
        _q("safe:processing"),
        name="GRD Post Processing",
        start=now,
        stop=now,
    )
    facility = child(
        processing,
        _q("safe:facility"),
        country="Germany",
        name="Copernicus S1 Core Ground Segment - DPA",
        organisation="ESA",
        site="DLR-Oberpfaffenhofen",
    )
    child(facility, _q("safe:software"), name="Sentinel-1 IPF", version=scene.ipf_version)

    platform = child(_wrap(section, "platform", "Platform Description"), _q("safe:platform"))
    child(platform, _q("safe:nssdcIdentifier"), "2014-016A")
    child(platform, _q("safe:familyName"), "SENTINEL-1")
    child(platform, _q("safe:number"), "A")
    instrument = child(platform, _q("safe:instrument"))
    child(instrument, _q("safe:familyName"), "Synthetic Aperture Radar", abbreviation="SAR")
    mode = child(child(instrument, _q("safe:extension")), _q("s1sarl1:instrumentMode"))
    child(mode, _q("s1sarl1:mode"), "IW")
    child(mode, _q("s1sarl1:swath"), "IW")

    orbit = child(
        _wrap(section, "measurementOrbitReference", "Orbit Reference"), _q("safe:orbitReference")
    )
    for tag, value in (
        ("orbitNumber", names.absolute_orbit),
        ("relativeOrbitNumber", names.relative_orbit),
    ):
        for kind in ("start", "stop"):
            child(orbit, _q(f"safe:{tag}"), str(value), type=kind)
    child(orbit, _q("safe:cycleNumber"), str(names.cycle))
    child(orbit, _q("safe:phaseIdentifier"), "1")
    properties = child(child(orbit, _q("safe:extension")), _q("s1:orbitProperties"))
    child(properties, _q("s1:pass"), layout.orbit_pass)
    child(properties, _q("s1:ascendingNodeTime"), _utc(layout.ascending_node_time))

    general = child(
        _wrap(section, "generalProductInformation", "General Product Information"),
        _q("s1sarl1:standAloneProductInformation"),
    )
    child(general, _q("s1sarl1:instrumentConfigurationID"), "6")
    child(general, _q("s1sarl1:missionDataTakeID"), str(names.datatake))
    for pol in polarisations:
        child(general, _q("s1sarl1:transmitterReceiverPolarisation"), pol)
    for tag, text in (
        ("productClass", "S"),
        ("productClassDescription", "SAR Standard L1 Product"),
        ("productComposition", "Slice"),
        ("productType", "GRD"),
        ("productTimelinessCategory", "Fast-24h"),
        ("sliceProductFlag", "true"),
        ("segmentStartTime", _utc(layout.start_time)),
        ("sliceNumber", "1"),
        ("totalSlices", "1"),
    ):
        child(general, _q(f"s1sarl1:{tag}"), text)

    period = child(
        _wrap(section, "acquisitionPeriod", "Acquisition Period"), _q("safe:acquisitionPeriod")
    )
    child(period, _q("safe:startTime"), _utc(layout.start_time))
    child(period, _q("safe:stopTime"), _utc(layout.stop_time))
    anx = child(child(period, _q("safe:extension")), _q("s1:timeANX"))
    for tag, moment in (("startTimeANX", layout.start_time), ("stopTimeANX", layout.stop_time)):
        since = (moment - layout.ascending_node_time).total_seconds() * 1e3
        child(anx, _q(f"s1:{tag}"), f"{since:.6e}")

    frame = child(
        child(_wrap(section, "measurementFrameSet", "Frame Set"), _q("safe:frameSet")),
        _q("safe:frame"),
    )
    footprint = child(
        frame, _q("safe:footPrint"), srsName="http://www.opengis.net/gml/srs/epsg.xml#4326"
    )
    last_line, last_pixel = layout.lines - 1, layout.samples - 1
    corners = [(last_line, 0), (last_line, last_pixel), (0, last_pixel), (0, 0)]
    lon, lat = layout.lonlat(np.array([c[0] for c in corners]), np.array([c[1] for c in corners]))
    text = " ".join(f"{la:.6f},{lo:.6f}" for lo, la in zip(lon.tolist(), lat.tolist(), strict=True))
    child(footprint, _q("gml:coordinates"), text)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# Measurement GeoTIFFs and the product.


def _strips(scene: SyntheticS1Scene, tile: int) -> Iterator[Window]:
    """Full-width strips aligned on both the TIFF tiles and the speckle blocks."""
    height = math.lcm(_SPECKLE_BLOCK_LINES, tile)
    for row in range(0, scene.layout.lines, height):
        yield Window(0, row, scene.layout.samples, min(height, scene.layout.lines - row))


def _gcps(layout: SceneLayout) -> list[GroundControlPoint]:
    grid = geolocation_grid(layout)
    return [
        GroundControlPoint(
            row=float(line),
            col=float(pixel),
            x=float(grid.longitude[i, j]),
            y=float(grid.latitude[i, j]),
            z=float(grid.height[i, j]),
            id=str(i * grid.pixels.size + j + 1),
        )
        for i, line in enumerate(grid.lines.tolist())
        for j, pixel in enumerate(grid.pixels.tolist())
    ]


def _measurement_layout(tile: int, compress: str) -> dict[str, object]:
    """GeoTIFF creation options: ESA's own layout for ``"none"``, else compressed tiles.

    ESA writes GRD measurements uncompressed, one line per strip; compressed tiles
    keep large synthetic products small on disk. No predictor: on speckled DN,
    horizontal differencing made DEFLATE tiles 3 % larger and 1.6 times slower to read.
    """
    if compress == "none":
        return {"tiled": False, "blockysize": 1}
    return {
        "tiled": True,
        "blockxsize": tile,
        "blockysize": tile,
        "compress": compress,
        "num_threads": "ALL_CPUS",
    }


def _write_measurements(
    scene: SyntheticS1Scene,
    paths: dict[str, Path],
    tile: int,
    compress: str,
) -> dict[str, DnStatistics]:
    layout = scene.layout
    profile = {
        "driver": "GTiff",
        "dtype": "uint16",
        "count": 1,
        "width": layout.samples,
        "height": layout.lines,
        "bigtiff": "IF_SAFER",
        **_measurement_layout(tile, compress),
    }
    gcps = _gcps(layout)
    sums = {pol: np.zeros(2) for pol in paths}
    with warnings.catch_warnings():  # georeferenced by GCPs, set right after opening
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        datasets = {pol: rasterio.open(path, "w", **profile) for pol, path in paths.items()}
    try:
        for pol, dst in datasets.items():
            dst.gcps = (gcps, CRS.from_epsg(4326))
            dst.update_tags(
                TIFFTAG_IMAGEDESCRIPTION=f"Sentinel-1A IW GRD HR L1 {pol}",
                TIFFTAG_SOFTWARE=f"Sentinel-1 IPF {scene.ipf_version}",
                TIFFTAG_DATETIME=layout.start_time.strftime("%Y:%m:%d %H:%M:%S"),
                **{TRUTH_TAG: scene.to_json()},
            )
        strips = list(_strips(scene, tile))
        for strip in progress(strips, desc="synthetic S1 strips", unit="strip"):
            sample = scene.landcover_sample(strip)
            noise = scene.noise_power(strip)
            for pol, dst in datasets.items():
                sigma0 = _linear(sigma0_db(sample.classes, pol, sample.texture))
                for block in _speckle_blocks(strip):
                    offset = int(block.row_off - strip.row_off)
                    rows = slice(offset, offset + int(block.height))
                    dn = _digital_numbers(scene, pol, block, sigma0[rows], noise[rows])
                    dst.write(dn, 1, window=block)
                    values = dn.astype(np.float64)
                    sums[pol] += (values.sum(), np.square(values).sum())
    finally:
        for dst in datasets.values():
            dst.close()
    count = float(layout.lines) * layout.samples
    stats = {}
    for pol, (total, squares) in sums.items():
        mean = total / count
        stats[pol] = DnStatistics(mean, math.sqrt(max(squares / count - mean * mean, 0.0)))
    return stats


def _digital_numbers(
    scene: SyntheticS1Scene,
    pol: str,
    block: Window,
    sigma0: npt.NDArray[np.float32],
    noise: npt.NDArray[np.float32],
) -> npt.NDArray[np.uint16]:
    """DN of one speckle block (up to ``_SPECKLE_BLOCK_LINES`` full-width lines from a
    block boundary), with speckle seeded by (seed, polarisation, block number) so the
    rasters do not depend on how the writer strips the image."""
    number = int(block.row_off) // _SPECKLE_BLOCK_LINES
    rng = np.random.default_rng([scene.seed, _POL_INDEX[pol.upper()], number])
    speckle = rng.standard_gamma(scene.looks, size=sigma0.shape, dtype=np.float32)
    speckle /= np.float32(scene.looks)
    amplitude = scene.calibration_amplitude(block)
    power = speckle  # reused in place: full-width blocks are large
    power *= sigma0
    power *= amplitude * amplitude
    power += noise
    dn = np.rint(np.sqrt(power, out=power), out=power)
    dn[~scene.valid_mask(block)] = 0.0
    noisy = scene.noisy_border(block)
    if noisy.any():
        dn[noisy] = rng.integers(1, _BORDER_NOISE_DN + 1, int(noisy.sum())).astype(np.float32)
    np.minimum(dn, np.iinfo(np.uint16).max, out=dn)
    return dn.astype(np.uint16)


def _speckle_blocks(strip: Window) -> Iterator[Window]:
    stop = int(strip.row_off + strip.height)
    for row in range(int(strip.row_off), stop, _SPECKLE_BLOCK_LINES):
        yield Window(0, row, strip.width, min(_SPECKLE_BLOCK_LINES, stop - row))


def write_synthetic_s1(
    out_dir: str | Path,
    *,
    lines: int | None = None,
    samples: int | None = None,
    layout: SceneLayout | None = None,
    polarisations: Sequence[str] = ("VV", "VH"),
    seed: int = 0,
    looks: float = 4.4,
    zip: bool = False,
    tile: int = 512,
    compress: str = "deflate",
    landcover_step: int = 2,
    ipf_version: str = IPF_VERSION,
    border_noise: bool = False,
) -> Path:
    """Write a synthetic S1A IW GRDH SAFE product (or its ESA-style zip) into ``out_dir``.

    ``lines``/``samples`` override the layout's size (the default layout is a full-size
    16 704 x 26 100 frame). ``compress="none"`` writes the measurement rasters as ESA
    does (uncompressed, one line per strip), otherwise they are ``tile``-sized tiles
    compressed with ``compress``. ``ipf_version`` is the IPF version the product claims;
    ``border_noise`` writes the low-DN edge strips of products processed before IPF 2.90
    (see :meth:`SyntheticS1Scene.noisy_border`). Same arguments, same bytes in the
    rasters. The product appears under its final name only once complete. Returns the
    SAFE folder or zip.
    """
    pols = tuple(p.upper() for p in polarisations)
    if pols not in (("VV", "VH"), ("VV",)):
        raise UsageError(
            f"polarisations must be ('VV', 'VH') or ('VV',), not {tuple(polarisations)}."
        )
    if tile <= 0 or tile % 16:
        raise UsageError(f"tile must be a positive multiple of 16, got {tile}.")
    base = layout or SceneLayout()
    sized = dataclasses.replace(
        base,
        lines=base.lines if lines is None else lines,
        samples=base.samples if samples is None else samples,
    )
    scene = SyntheticS1Scene(
        layout=sized,
        seed=seed,
        looks=looks,
        landcover_step=landcover_step,
        ipf_version=ipf_version,
        border_noise=border_noise,
    )
    names = product_names(scene, pols)
    return publish_safe(
        out_dir,
        names.product_id,
        lambda safe: _write_safe(scene, names, pols, safe, tile, compress),
        zip=zip,
    )


def _write_safe(
    scene: SyntheticS1Scene,
    names: ProductNames,
    pols: Sequence[str],
    safe_dir: Path,
    tile: int,
    compress: str,
) -> None:
    for folder in ("measurement", "annotation/calibration"):
        (safe_dir / folder).mkdir(parents=True, exist_ok=True)
    tiffs = {pol: safe_dir / "measurement" / f"{names.stems[pol]}.tiff" for pol in pols}
    stats = _write_measurements(scene, tiffs, tile, compress)
    for pol in pols:
        product, noise, calibration, _ = _data_files(names, pol)
        (safe_dir / product.href).write_bytes(annotation_xml(scene, names, pol, stats[pol]))
        (safe_dir / noise.href).write_bytes(noise_xml(scene, names, pol))
        (safe_dir / calibration.href).write_bytes(calibration_xml(scene, names, pol))
    (safe_dir / "manifest.safe").write_bytes(manifest_xml(scene, names, pols, safe_dir))
