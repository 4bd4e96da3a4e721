"""Sentinel-1 IW GRD SAFE reader: a ``.SAFE`` folder or its zip, local or any fsspec URL.

Files are found through ``manifest.safe`` (its dataObject hrefs), never by globbing, so
renamed or extra files cannot be mistaken for a product's own. Zips are read in place:
XML through fsspec's zip filesystem (``zipfile`` over an fsspec file), rasters through
GDAL's ``/vsizip/`` when local and through rasterio's ``opener=`` otherwise. Pixels are
only read by Dask tasks, one rasterio window per chunk.

A product may be crafted: every href is confined to the product and measurements are
opened as GeoTIFFs only, with no network (see :mod:`geocolor.io.product_files`).
"""

from __future__ import annotations

import os
import posixpath
import re
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dask.array as da
import fsspec
import numpy as np
import shapely
from dask.array.core import normalize_chunks
from dask.base import tokenize
from fsspec.implementations.zip import ZipFileSystem
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader
from rasterio.windows import Window

from geocolor.errors import GeocolorError, raise_unchained, root_reason
from geocolor.io.filesystems import OPENER_LOCK
from geocolor.io.product_files import S1_MEASUREMENT_DRIVERS, confine_href, open_product_raster
from geocolor.io.tiff_blocks import ByteRanges, byte_ranges, check_deflate_blocks
from geocolor.io.xml import (
    parse_xml,
    required_integer,
    required_number,
    required_text,
    required_time,
)
from geocolor.s1.calibration import CalibrationLuts, parse_calibration
from geocolor.s1.noise import NoiseLuts, parse_noise
from geocolor.s1.radar_geometry import RadarGeometry, parse_radar_geometry

__all__ = [
    "GeolocationGrid",
    "ProductInfo",
    "SafeProduct",
    "is_safe",
    "manifest_files",
    "open_safe",
]

_FILE_KINDS = {
    "s1Level1ProductSchema": "annotation",
    "s1Level1CalibrationSchema": "calibration",
    "s1Level1NoiseSchema": "noise",
    "s1Level1MeasurementSchema": "measurement",
}
_POLARISATION_IN_NAME = re.compile(r"-(hh|hv|vh|vv)-")
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError)
_GRID_POINTS = "{*}geolocationGrid/{*}geolocationGridPointList/{*}geolocationGridPoint"


@dataclass(frozen=True)
class ProductInfo:
    """Identity and geometry of a product, from the manifest and the first annotation."""

    product_id: str
    mission: str
    mode: str
    product_type: str
    start_time: datetime
    stop_time: datetime
    orbit_pass: str
    absolute_orbit: int
    ipf_version: str
    polarisations: tuple[str, ...]
    lines: int
    samples: int
    range_pixel_spacing: float
    azimuth_pixel_spacing: float


@dataclass(frozen=True)
class RadarWindow:
    """Image lines ``line0:line1`` and samples ``pixel0:pixel1`` of a product."""

    line0: int
    line1: int
    pixel0: int
    pixel1: int


@dataclass(frozen=True, eq=False)
class GeolocationGrid:
    """Annotated tie points: image line and pixel with their lon, lat (degrees) and height."""

    line: np.ndarray
    pixel: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    height: np.ndarray


@dataclass(frozen=True)
class _Archive:
    """Where a SAFE's files live: a folder or a zip, on any fsspec filesystem.

    ``fs`` reaches the files under ``root`` (a zip filesystem for zips); ``zip_file`` is
    the zip's path on its own filesystem, and ``local`` says whether GDAL can open the
    paths directly.
    """

    url: str
    fs: Any
    root: str
    zip_file: str | None
    local: bool

    def member(self, href: str) -> str:
        """Path of ``href`` on ``fs``; an href leaving the product is refused."""
        local_folder = self.local and self.zip_file is None
        source = self.describe("manifest.safe")
        return confine_href(self.root, href, source, local=local_folder)

    def describe(self, href: str) -> str:
        """User-facing name of a file: the product URL followed by its inner path."""
        inner = posixpath.join(self.root, href) if self.root else href
        return f"{self.url}/{inner if self.zip_file is not None else href}"

    def exists(self, href: str) -> bool:
        try:
            return bool(self.fs.isfile(self.member(href)))
        except _ZIP_ERRORS:
            return False

    def read(self, href: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self.member(href)))
        except FileNotFoundError as error:
            raise GeocolorError(f"{self.describe(href)}: file not found.") from error
        except _ZIP_ERRORS as error:
            raise GeocolorError(f"{self.describe(href)}: unreadable ({error}).") from error

    def raster(self, href: str) -> _RasterSource:
        """A raster source GDAL reads natively when local, through fsspec otherwise."""
        describe = self.describe(href)
        raw = byte_ranges(self.fs, self.member(href))
        if not self.local:
            return _RasterSource(self.member(href), self.fs, describe, raw)
        if self.zip_file is not None:
            path = f"/vsizip/{self.zip_file}/{self.member(href)}"
            return _RasterSource(path, None, describe, raw)
        return _RasterSource(self.member(href), None, describe, raw)


@dataclass(frozen=True)
class _RasterSource:
    """A measurement raster that each Dask task reopens on its own.

    ``raw`` reads the file's bytes for :func:`~geocolor.io.tiff_blocks.check_deflate_blocks`.
    """

    path: str
    opener: Any
    describe: str
    raw: ByteRanges

    @contextmanager
    def dataset(self) -> Iterator[DatasetReader]:
        """The open GeoTIFF; any GDAL or zip failure inside becomes a GeocolorError.

        The error names the file and GDAL's reason, and is raised unchained, as it may
        have to leave a Dask task.
        """
        with OPENER_LOCK if self.opener is not None else nullcontext():
            try:
                with open_product_raster(
                    self.path, S1_MEASUREMENT_DRIVERS, opener=self.opener, describe=self.describe
                ) as dataset:
                    yield dataset
            except (RasterioError, *_ZIP_ERRORS) as error:
                failure = GeocolorError(
                    f"{self.describe}: unreadable raster ({root_reason(error)})."
                )
                raise_unchained(failure)


def is_safe(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a SAFE folder or zip holding a manifest (the reader's can_open).

    Only the name and the presence of ``manifest.safe`` are checked, so it stays cheap.
    """
    url = os.fspath(path).rstrip("/")
    if not url.lower().endswith((".safe", ".zip")):
        return False
    try:
        _locate(url, {})
    except GeocolorError:
        return False
    return True


def open_safe(path: str | os.PathLike[str], **storage_options: Any) -> SafeProduct:
    """Open a Sentinel-1 GRD product without reading any pixels.

    Parameters
    ----------
    path
        A ``.SAFE`` folder or a zip of one, as a local path or an fsspec URL
        (``file://``, ``memory://``, ``gs://``...).
    **storage_options
        Passed to fsspec for the filesystem holding ``path`` (credentials, project...).
    """
    url = os.fspath(path).rstrip("/")
    return SafeProduct(url, _locate(url, storage_options))


def _locate(url: str, storage_options: dict[str, Any]) -> _Archive:
    try:
        fs, fs_path = fsspec.core.url_to_fs(url, **storage_options)
        is_folder, is_file = fs.isdir(fs_path), fs.isfile(fs_path)
    except (ValueError, ImportError, OSError) as error:
        raise GeocolorError(f"{url}: cannot be reached ({error}).") from error
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)
    local = "file" in protocols
    if is_folder:
        if not fs.isfile(posixpath.join(fs_path, "manifest.safe")):
            raise GeocolorError(f"{url}: not a SAFE product (no manifest.safe).")
        return _Archive(url, fs, fs_path, None, local)
    if not is_file:
        raise GeocolorError(f"{url}: no such file or folder.")
    try:
        zip_fs = ZipFileSystem(fo=url, target_options=storage_options, skip_instance_cache=True)
        manifests = zip_fs.glob("*/manifest.safe") or zip_fs.glob("manifest.safe")
    except _ZIP_ERRORS as error:
        raise GeocolorError(f"{url}: not a readable zip archive ({error}).") from error
    if len(manifests) != 1:
        raise GeocolorError(f"{url}: not a SAFE product (no single manifest.safe inside).")
    return _Archive(url, zip_fs, posixpath.dirname(manifests[0]), fs_path, local)


class SafeProduct:
    """An opened Sentinel-1 IW GRD product; metadata is parsed once and kept.

    Use :func:`open_safe` to make one.
    """

    def __init__(self, path: str, archive: _Archive) -> None:
        self.path = path
        self._archive = archive
        self._annotations: dict[str, tuple[ET.Element, str]] = {}
        manifest, manifest_source = self._manifest()
        self._files = manifest_files(manifest, manifest_source)
        for href in self._files.values():
            archive.member(href)
        self.info = self._product_info(manifest, manifest_source)

    def __repr__(self) -> str:
        return f"SafeProduct({self.path!r})"

    def geolocation_grid(self) -> GeolocationGrid:
        """Tie-point grid of the first polarisation (all polarisations share it)."""
        root, source = self._annotation(self.info.polarisations[0])
        points = root.findall(_GRID_POINTS)
        if not points:
            raise GeocolorError(f"{source}: no geolocationGridPoint found.")
        tags = {"line": "line", "pixel": "pixel", "lon": "longitude", "lat": "latitude"}
        columns = {
            name: np.array([required_number(p, f"{{*}}{tag}", source) for p in points])
            for name, tag in {**tags, "height": "height"}.items()
        }
        for name, values in columns.items():
            if not np.isfinite(values).all():
                raise GeocolorError(f"{source}: geolocation grid {name} holds non-finite values.")
        return GeolocationGrid(**columns)

    def radar_geometry(self) -> RadarGeometry:
        """Orbit, image timing and srgr polynomials (all polarisations share them)."""
        return parse_radar_geometry(*self._annotation(self.info.polarisations[0]))

    def incidence_range(self) -> tuple[float, float] | None:
        """Lowest and highest incidence angle (degrees) at the tie points; None if unannotated."""
        root, source = self._annotation(self.info.polarisations[0])
        angles = [
            required_number(point, "{*}incidenceAngle", source)
            for point in root.iterfind(_GRID_POINTS)
            if point.find("{*}incidenceAngle") is not None
        ]
        return (min(angles), max(angles)) if angles else None

    def footprint(self) -> shapely.Polygon:
        """Lon/lat outline through the grid's outer tie points, starting at line 0, pixel 0."""
        grid = self.geolocation_grid()
        order = np.lexsort((grid.pixel, grid.line))
        n_lines = len(np.unique(grid.line))
        if n_lines < 2 or len(order) % n_lines or len(order) // n_lines < 2:
            _, source = self._annotation(self.info.polarisations[0])
            raise GeocolorError(f"{source}: geolocation grid is not a regular line x pixel grid.")
        points = np.column_stack([grid.lon[order], grid.lat[order]]).reshape(n_lines, -1, 2)
        ring = np.concatenate(
            [points[0, :], points[1:, -1], points[-1, -2::-1], points[-2:0:-1, 0]]
        )
        return shapely.Polygon(ring)

    def calibration(self, pol: str) -> CalibrationLuts:
        """Calibration LUTs of one polarisation."""
        href = self._href("calibration", self._polarisation(pol))
        return parse_calibration(self._archive.read(href), self._archive.describe(href))

    def noise(self, pol: str) -> NoiseLuts:
        """Thermal noise LUTs of one polarisation (either XML generation)."""
        href = self._href("noise", self._polarisation(pol))
        return parse_noise(self._archive.read(href), self._archive.describe(href))

    def read_dn(
        self,
        pol: str,
        chunks: tuple[int, int] | int = (2048, 2048),
        window: RadarWindow | None = None,
    ) -> da.Array:
        """Lazy uint16 DN image of one polarisation, ``(lines, samples)``.

        The raster header is checked against the annotation here; pixels are read
        later, one rasterio window per Dask chunk; chunk rows are rounded up to whole
        raster blocks. ``window`` restricts the image to
        lines ``line0:line1`` and samples ``pixel0:pixel1`` (so a small area of interest
        reads only what it needs); the array then starts at that window's corner.
        """
        pol = self._polarisation(pol)
        href = self._href("measurement", pol)
        source = self._archive.raster(href)
        describe = source.describe
        shape = _image_size(*self._annotation(pol))
        with source.dataset() as dataset:
            raster_shape, dtype = (dataset.height, dataset.width), dataset.dtypes[0]
            block_rows = dataset.block_shapes[0][0]
        if raster_shape != shape:
            raise GeocolorError(
                f"{describe}: raster is {raster_shape[0]} x {raster_shape[1]} but the "
                f"annotation says {shape[0]} x {shape[1]} (lines x samples)."
            )
        if dtype != "uint16":
            raise GeocolorError(f"{describe}: raster is {dtype}, expected uint16 DN.")
        window = window or RadarWindow(0, shape[0], 0, shape[1])
        if not (
            0 <= window.line0 < window.line1 <= shape[0]
            and 0 <= window.pixel0 < window.pixel1 <= shape[1]
        ):
            raise GeocolorError(f"{describe}: window {window} is outside the image {shape}.")
        size = (window.line1 - window.line0, window.pixel1 - window.pixel0)
        if isinstance(chunks, tuple) and block_rows > 1:
            # whole raster blocks per chunk: a tile split between two chunks would be
            # decompressed twice
            chunks = (-(-chunks[0] // block_rows) * block_rows, chunks[1])
        normalized = normalize_chunks(chunks, size, dtype=np.uint16)
        origin = (window.line0, window.pixel0)
        dn: da.Array = da.map_blocks(
            _read_block,
            name=f"read-dn-{pol.lower()}-{tokenize(describe, normalized, origin)}",
            chunks=normalized,
            dtype=np.uint16,
            meta=np.empty((0, 0), dtype=np.uint16),
            source=source,
            origin=origin,
        )
        return dn

    def check_measurements(self) -> None:
        """Check every measurement opens as a GeoTIFF matching its annotation.

        Only headers are read, no pixel: uploads are checked so before they are accepted.
        """
        for pol in self.info.polarisations:
            self.read_dn(pol)

    def _polarisation(self, pol: str) -> str:
        if pol.upper() not in self.info.polarisations:
            held = ", ".join(self.info.polarisations)
            raise GeocolorError(f"{self.path}: no {pol} polarisation (it holds {held}).")
        return pol.upper()

    def _href(self, kind: str, pol: str) -> str:
        href = self._files.get((kind, pol))
        if href is None:
            manifest = self._archive.describe("manifest.safe")
            raise GeocolorError(f"{manifest}: lists no {kind} file for {pol}.")
        if not self._archive.exists(href):
            raise GeocolorError(f"{self._archive.describe(href)}: {kind} file is missing.")
        return href

    def _annotation(self, pol: str) -> tuple[ET.Element, str]:
        if pol not in self._annotations:
            href = self._href("annotation", pol)
            source = self._archive.describe(href)
            self._annotations[pol] = (parse_xml(self._archive.read(href), source), source)
        return self._annotations[pol]

    def _manifest(self) -> tuple[ET.Element, str]:
        source = self._archive.describe("manifest.safe")
        return parse_xml(self._archive.read("manifest.safe"), source), source

    def _product_info(self, manifest: ET.Element, source: str) -> ProductInfo:
        product_type = required_text(
            manifest, ".//{*}standAloneProductInformation/{*}productType", source
        )
        if product_type != "GRD":
            raise GeocolorError(f"{source}: a {product_type} product; only GRD is supported.")
        polarisations = tuple(
            element.text.strip().upper()
            for element in manifest.iterfind(".//{*}transmitterReceiverPolarisation")
            if element.text
        )
        if not polarisations:
            raise GeocolorError(f"{source}: lists no polarisation.")
        software = manifest.find(".//{*}processing/{*}facility/{*}software")
        if software is None or not software.get("version"):
            raise GeocolorError(f"{source}: no IPF software version.")
        annotation, annotation_source = self._annotation(polarisations[0])
        lines, samples = _image_size(annotation, annotation_source)
        image = "{*}imageAnnotation/{*}imageInformation/{*}"
        name = posixpath.basename(self._archive.root or self._archive.url)

        def text(path: str) -> str:
            return required_text(manifest, path, source)

        def spacing(tag: str) -> float:
            return required_number(annotation, image + tag, annotation_source)

        return ProductInfo(
            product_id=re.sub(r"(\.SAFE)?(\.zip)?$", "", name, flags=re.IGNORECASE),
            mission=required_text(annotation, "{*}adsHeader/{*}missionId", annotation_source),
            mode=text(".//{*}instrumentMode/{*}mode"),
            product_type=product_type,
            start_time=required_time(manifest, ".//{*}acquisitionPeriod/{*}startTime", source),
            stop_time=required_time(manifest, ".//{*}acquisitionPeriod/{*}stopTime", source),
            orbit_pass=text(".//{*}orbitProperties/{*}pass").upper(),
            absolute_orbit=required_integer(
                manifest, ".//{*}orbitReference/{*}orbitNumber[@type='start']", source
            ),
            ipf_version=software.get("version", ""),
            polarisations=polarisations,
            lines=lines,
            samples=samples,
            range_pixel_spacing=spacing("rangePixelSpacing"),
            azimuth_pixel_spacing=spacing("azimuthPixelSpacing"),
        )


def manifest_files(manifest: ET.Element, source: str) -> dict[tuple[str, str], str]:
    """Map (kind, polarisation) to the href the manifest gives for that file."""
    files: dict[tuple[str, str], str] = {}
    for data_object in manifest.iterfind("{*}dataObjectSection/{*}dataObject"):
        kind = _FILE_KINDS.get(data_object.get("repID", ""))
        location = data_object.find("{*}byteStream/{*}fileLocation")
        if kind is None or location is None:
            continue
        href = posixpath.normpath(location.get("href", ""))
        match = _POLARISATION_IN_NAME.search(posixpath.basename(href))
        if match is None:
            raise GeocolorError(f"{source}: unexpected {kind} file location {href!r}.")
        key = (kind, match.group(1).upper())
        if key in files:
            raise GeocolorError(
                f"{source}: several {kind} files for {key[1]}; only GRD products are supported."
            )
        files[key] = href
    return files


def _image_size(annotation: ET.Element, source: str) -> tuple[int, int]:
    image = "{*}imageAnnotation/{*}imageInformation/{*}"
    lines = required_text(annotation, image + "numberOfLines", source)
    samples = required_text(annotation, image + "numberOfSamples", source)
    try:
        return int(lines), int(samples)
    except ValueError as error:
        raise GeocolorError(f"{source}: image size is not a whole number.") from error


def _read_block(
    source: _RasterSource, origin: tuple[int, int], *, block_info: dict[Any, Any]
) -> np.ndarray:
    (row_start, row_stop), (col_start, col_stop) = block_info[None]["array-location"]
    rows = (row_start + origin[0], row_stop + origin[0])
    cols = (col_start + origin[1], col_stop + origin[1])
    with source.dataset() as dataset:
        pixels: np.ndarray = dataset.read(1, window=Window.from_slices(rows, cols))
        check_deflate_blocks(dataset, rows, cols, source.raw, source.describe)
    return pixels
