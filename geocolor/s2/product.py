"""Sentinel-2 Level-2A reader: surface reflectance and the scene-classification mask.

A product is read lazily: every band becomes a dask array whose chunks are single
rasterio window reads, so memory is bounded by the chunk size, never by the tile.
Two inputs are understood:

- an L2A ``.SAFE`` folder or its ``.zip`` (local, or any fsspec URL such as ``gs://``).
  ``MTD_MSIL2A.xml`` is the authority: band files are located through its
  ``IMAGE_FILE`` entries, the radiometric offsets (baseline 04.00 onwards) and the
  quantification value come from it, and the tile grid comes from the granule's
  ``MTD_TL.xml``. Zips are read in place through GDAL's ``/vsizip/``. GDAL reads local,
  ``s3://`` and ``az://`` rasters itself; other fsspec protocols, ``gs://`` included (so
  gcsfs's credentials and ``STORAGE_EMULATOR_HOST`` apply, see :mod:`geocolor.io.filesystems`),
  go through a rasterio opener, whose reads are serialised because openers are not
  thread-safe.
- a folder (or an explicit list) of plain GeoTIFF/COG band files, as download services
  deliver them. A file belongs to a band when its name contains the band token as a
  separate word: ``B02.tif``, ``B8A_20m.tif``, ``T29UNU_20221005T115411_B04_10m.tiff``,
  ``SCL.tif``. The resolution is the file's pixel size. Integer files hold L2A digital
  numbers: reflectance = (DN + ``BOA_ADD_OFFSET``) / ``BOA_QUANTIFICATION_VALUE``, both
  read from the file's metadata tags when present (defaults 0 and 10000, the
  pre-04.00 convention most services deliver), DN 0 being no data. Floating-point
  files already hold reflectance and pass through unchanged, their nodata value
  becoming NaN.
"""

from __future__ import annotations

import os
import posixpath
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from types import MappingProxyType
from typing import Any, cast
from xml.etree import ElementTree

import dask.array as da
import fsspec
import numpy as np
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from dask.array.core import normalize_chunks
from dask.base import tokenize
from fsspec.implementations.zip import ZipFileSystem
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window
from shapely.geometry import Polygon

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.io.filesystems import OPENER_LOCK

PathLike = str | os.PathLike[str]


class SCLClass(IntEnum):
    """Scene-classification (SCL) codes of the L2A product."""

    NO_DATA = 0
    SATURATED_OR_DEFECTIVE = 1
    DARK_AREA = 2
    CLOUD_SHADOW = 3
    VEGETATION = 4
    NOT_VEGETATED = 5
    WATER = 6
    UNCLASSIFIED = 7
    CLOUD_MEDIUM_PROBABILITY = 8
    CLOUD_HIGH_PROBABILITY = 9
    THIN_CIRRUS = 10
    SNOW = 11


DEFAULT_MASKED: frozenset[int] = frozenset(
    {
        SCLClass.NO_DATA,
        SCLClass.SATURATED_OR_DEFECTIVE,
        SCLClass.CLOUD_SHADOW,
        SCLClass.CLOUD_MEDIUM_PROBABILITY,
        SCLClass.CLOUD_HIGH_PROBABILITY,
        SCLClass.THIN_CIRRUS,
        SCLClass.SNOW,
    }
)

# spectral bands in wavelength order, as named in L2A file names
BAND_ORDER = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
SCL = "SCL"

_SAFE_IMAGE = re.compile(r"_(B\d\d|B8A|SCL)_(\d+)m$")
_PLAIN_IMAGE = re.compile(r"(?:^|[_.\-])(B0[1-9]|B1[0-2]|B8A|SCL)(?:[_.\-]|$)", re.IGNORECASE)
_PLAIN_SUFFIXES = (".tif", ".tiff")
_TILE_IN_NAME = re.compile(r"(?:^|_)T(\d{2}[A-Z]{3})(?:_|$)")
_TIME_IN_NAME = re.compile(r"(?:^|_)(\d{8}T\d{6})(?:_|$)")
_DEFAULT_QUANTIFICATION = 10000.0
# band file extension per Granule imageFormat: ESA writes JPEG2000; GeoTIFF is for
# products re-encoded for speed (geocolor's full-size synthetic tiles)
_IMAGE_EXTENSIONS = {"JPEG2000": ".jp2", "GeoTIFF": ".tif"}
# fsspec protocols GDAL reads itself (thread-safe, no Python in the read path)
_GDAL_PREFIXES = {"file": "", "s3": "/vsis3/", "az": "/vsiaz/"}


@dataclass(frozen=True)
class S2Info:
    """What a product says about itself; ``None`` where plain band files cannot say.

    ``offsets`` maps band names (``"B02"``) to the additive DN offset applied before
    dividing by ``quantification_value``.
    """

    product_id: str
    spacecraft: str | None
    sensing_time: datetime | None
    processing_baseline: str | None
    tile_id: str | None
    crs: CRS
    cloud_cover_percent: float | None
    offsets: Mapping[str, float]
    quantification_value: float


@dataclass(frozen=True)
class _Raster:
    """One raster file: a path GDAL reads natively, or an fsspec path with its opener."""

    path: str
    opener: Callable[..., Any] | None = None

    @contextmanager
    def open(self) -> Iterator[Any]:
        """The open rasterio dataset, or an error naming the file.

        Rasterio's Python openers are not safe to use from several threads at once
        (concurrent reads of one path crash), so those reads take turns.
        """
        with OPENER_LOCK if self.opener is not None else nullcontext():
            try:
                dataset = rasterio.open(self.path, opener=self.opener)
            except (OSError, RasterioError) as exc:
                raise GeocolorError(f"{self.path}: cannot open raster ({exc})") from None
            with dataset:
                yield dataset

    def read(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
        """First band over [rows) x [cols), one window read."""
        with self.open() as dataset:
            try:
                return dataset.read(1, window=Window.from_slices(rows, cols))
            except (OSError, RasterioError) as exc:
                raise GeocolorError(f"{self.path}: cannot read pixels ({exc})") from None

    def grid(self) -> Grid:
        """The file's own grid, read from its header."""
        with self.open() as dataset:
            return Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)


@dataclass(frozen=True)
class _BandFile:
    """A band raster and how its stored values become reflectance."""

    raster: _Raster
    offset: float
    quantification: float
    nodata: float | None


@dataclass(frozen=True)
class _Archive:
    """The files of one product folder, on disk, in a zip or behind fsspec."""

    label: str
    fs: Any
    root: str
    gdal_root: str | None

    def files(self) -> set[str]:
        """Paths of every file, relative to the product folder."""
        prefix = f"{self.root.rstrip('/')}/" if self.root else ""
        return {path[len(prefix) :] for path in self.fs.find(self.root) if path.startswith(prefix)}

    def xml(self, relative: str) -> ElementTree.Element:
        """A parsed XML file of the product."""
        name = posixpath.join(self.label, relative)
        try:
            with self.fs.open(posixpath.join(self.root, relative), "rb") as stream:
                return ElementTree.parse(stream).getroot()
        except FileNotFoundError:
            raise GeocolorError(f"{name}: file not found") from None
        except ElementTree.ParseError as exc:
            raise GeocolorError(f"{name}: malformed XML ({exc})") from None
        except OSError as exc:
            raise GeocolorError(f"{name}: cannot read ({exc})") from None

    def raster(self, relative: str) -> _Raster:
        """A raster of the product, read natively by GDAL where it can."""
        if self.gdal_root is not None:
            return _Raster(f"{self.gdal_root}/{relative}")
        return _Raster(posixpath.join(self.root, relative), self.fs.open)


class S2Product:
    """An opened L2A product: metadata plus lazy readers of reflectance and mask.

    Build it with :func:`open_s2`.
    """

    def __init__(
        self,
        info: S2Info,
        files: Mapping[tuple[str, int], _BandFile],
        grids: Mapping[int, Grid],
        footprint: Polygon | None,
        missing: Mapping[tuple[str, int], str] | None = None,
    ) -> None:
        self.info = info
        self._files = dict(files)
        self._missing = dict(missing or {})
        self._grids = dict(grids)
        self._footprint = footprint

    def __repr__(self) -> str:
        return f"S2Product({self.info.product_id!r})"

    def bands_available(self, resolution: int) -> list[str]:
        """Spectral bands with a raster at ``resolution`` metres, in wavelength order."""
        return [band for band in BAND_ORDER if (band, resolution) in self._files]

    def footprint(self) -> Polygon:
        """Valid-data outline in lon/lat: the metadata footprint, else the tile bounds."""
        if self._footprint is not None:
            return self._footprint
        # a reprojected box stays a polygon
        return cast(Polygon, self._grid(min(self._grids)).footprint_lonlat())

    def grid(self, resolution: int) -> tuple[CRS, Affine, int, int]:
        """(crs, transform, width, height) of the tile at ``resolution`` metres."""
        grid = self._grid(resolution)
        return grid.crs, grid.transform, grid.width, grid.height

    def read_reflectance(
        self,
        bands: Sequence[str] = ("B02", "B03", "B04"),
        resolution: int = 10,
        chunks: int = 1024,
    ) -> xr.DataArray:
        """Lazy float32 surface reflectance, dims (band, y, x), NaN where there is no data.

        Every band must exist at ``resolution``: resampling spectral bands silently
        would hide a mismatch the caller should decide about.
        """
        if not bands:
            raise GeocolorError(f"{self.info.product_id}: no bands requested")
        grid = self._grid(resolution)
        block_chunks = normalize_chunks((chunks, chunks), shape=grid.shape)
        layers = []
        for band in bands:
            band_file = self._band_file(band, resolution)
            _check_on_grid(band_file.raster, grid)
            layers.append(
                da.map_blocks(
                    _reflectance_block,
                    name=f"s2-reflectance-{band}-{tokenize(band_file, block_chunks)}",
                    chunks=block_chunks,
                    dtype=np.float32,
                    meta=np.empty((0, 0), np.float32),
                    band_file=band_file,
                )
            )
        reflectance = _on_grid(da.stack(layers), grid, "reflectance")
        reflectance = reflectance.assign_coords(band=list(bands))
        return reflectance.rio.write_nodata(np.nan)

    def read_mask(
        self,
        resolution: int = 10,
        classes: Iterable[int] = DEFAULT_MASKED,
        chunks: int = 1024,
        scl_resolution: int | None = None,
    ) -> xr.DataArray:
        """Lazy boolean mask (True = masked) of SCL ``classes``, dims (y, x).

        The SCL raster (at ``scl_resolution``; by default the one at ``resolution``,
        else the finest) is resampled by nearest neighbour onto the band grid chunk by
        chunk, so 20 m classes replicate exactly 2 x 2 onto 10 m pixels.
        """
        lookup = _class_lookup(classes, self.info.product_id)
        grid = self._grid(resolution)
        scl_resolutions = sorted(res for name, res in self._files if name == SCL)
        if not scl_resolutions:
            raise GeocolorError(f"{self.info.product_id}: product has no SCL raster")
        if scl_resolution is None:
            scl_resolution = resolution if resolution in scl_resolutions else scl_resolutions[0]
        scl = self._band_file(SCL, scl_resolution).raster
        source = self._grid(scl_resolution)
        _check_on_grid(scl, source)
        block_chunks = normalize_chunks((chunks, chunks), shape=grid.shape)
        mask = da.map_blocks(
            _mask_block,
            name=f"s2-mask-{tokenize(scl, source, grid, lookup, block_chunks)}",
            chunks=block_chunks,
            dtype=bool,
            meta=np.empty((0, 0), bool),
            scl=scl,
            source=source,
            target=grid,
            lookup=lookup,
        )
        return _on_grid(mask, grid, "mask")

    def _grid(self, resolution: int) -> Grid:
        try:
            return self._grids[resolution]
        except KeyError:
            known = ", ".join(f"{res} m" for res in sorted(self._grids))
            raise GeocolorError(
                f"{self.info.product_id}: no {resolution} m grid (available: {known})"
            ) from None

    def _band_file(self, band: str, resolution: int) -> _BandFile:
        if (band, resolution) in self._files:
            return self._files[(band, resolution)]
        if band not in (*BAND_ORDER, SCL):
            raise GeocolorError(f"{self.info.product_id}: unknown band {band!r}")
        present = sorted(res for name, res in self._files if name == band)
        where = ", ".join(f"{res} m" for res in present) or "none"
        listed = self._missing.get((band, resolution))
        absent = f"{listed} is listed but missing; " if listed else ""
        raise GeocolorError(
            f"{self.info.product_id}: band {band} has no {resolution} m raster "
            f"({absent}resolutions present: {where})"
        )


def open_s2(path: PathLike | Sequence[PathLike]) -> S2Product:
    """Open an L2A product: a SAFE folder or zip, a band-file folder, or a list of band files.

    See the module docstring for the accepted layouts and how values are scaled.
    """
    if not isinstance(path, str | os.PathLike):
        locations = [os.fspath(item) for item in path]
        label = posixpath.dirname(locations[0]) if locations else "empty band-file list"
        return _open_plain([_raster_at(location) for location in locations], label)
    location = os.fspath(path)
    archive = _open_archive(location)
    files = archive.files()
    if "MTD_MSIL2A.xml" in files:
        return _open_safe(archive, files)
    if "MTD_MSIL1C.xml" in files:
        raise GeocolorError(f"{location}: is a Level-1C product (MTD_MSIL1C.xml), not Level-2A")
    if location.rstrip("/").upper().endswith((".SAFE", ".ZIP")) or "manifest.safe" in files:
        raise GeocolorError(f"{location}: MTD_MSIL2A.xml not found, not an L2A SAFE product")
    top_level = sorted(name for name in files if "/" not in name)
    return _open_plain([archive.raster(name) for name in top_level], location)


def _open_archive(location: str) -> _Archive:
    fs, fs_path = fsspec.core.url_to_fs(location)
    if not fs.exists(fs_path):
        raise GeocolorError(f"{location}: no such file or folder")
    native = _gdal_path(fs, fs_path)
    if fs.isdir(fs_path):
        return _Archive(location, fs, fs_path, native)
    if not fs_path.lower().endswith(".zip"):
        raise GeocolorError(f"{location}: expected a .SAFE folder, a .zip or a band-file folder")
    try:
        zip_fs = ZipFileSystem(fo=location)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GeocolorError(f"{location}: unreadable zip archive ({exc})") from None
    metadata = [
        name
        for name in zip_fs.find("")
        if posixpath.basename(name) in ("MTD_MSIL2A.xml", "MTD_MSIL1C.xml")
    ]
    root = posixpath.dirname(min(metadata, key=len)) if metadata else ""
    gdal_root = None if native is None else posixpath.join(f"/vsizip/{native}", root).rstrip("/")
    return _Archive(location, zip_fs, root, gdal_root)


def _gdal_path(fs: Any, fs_path: str) -> str | None:
    """The GDAL virtual-file path of an fsspec location, when GDAL can read it itself."""
    protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
    prefixes = [_GDAL_PREFIXES[name] for name in protocols if name in _GDAL_PREFIXES]
    return f"{prefixes[0]}{fs_path}" if prefixes else None


def _open_safe(archive: _Archive, present: set[str]) -> S2Product:
    mtd_name = posixpath.join(archive.label, "MTD_MSIL2A.xml")
    mtd = archive.xml("MTD_MSIL2A.xml")
    if _local_name(mtd.tag) != "Level-2A_User_Product":
        raise GeocolorError(f"{mtd_name}: root element is {_local_name(mtd.tag)}, not Level-2A")
    granules = _elements(mtd, "Granule")
    image_files = [el.text or "" for el in granules[0].iter("IMAGE_FILE")] if granules else []
    if not image_files:
        raise GeocolorError(f"{mtd_name}: lists no Granule/IMAGE_FILE")
    image_format = granules[0].get("imageFormat", "JPEG2000")
    extension = _IMAGE_EXTENSIONS.get(image_format)
    if extension is None:
        raise GeocolorError(f"{mtd_name}: unsupported imageFormat {image_format!r}")
    granule = image_files[0].split("/IMG_DATA/")[0]
    tile = archive.xml(posixpath.join(granule, "MTD_TL.xml"))
    tile_name = posixpath.join(archive.label, granule, "MTD_TL.xml")
    crs = CRS.from_string(_text(tile, "HORIZONTAL_CS_CODE", tile_name))
    grids = _tile_grids(tile, crs, tile_name)
    quantification = _number(mtd, "BOA_QUANTIFICATION_VALUE", mtd_name)
    offsets = _safe_offsets(mtd, mtd_name)
    files: dict[tuple[str, int], _BandFile] = {}
    missing: dict[tuple[str, int], str] = {}
    for image in image_files:
        match = _SAFE_IMAGE.search(image)
        if match is None:
            continue
        band, resolution = match.group(1), int(match.group(2))
        if f"{image}{extension}" not in present:
            missing[(band, resolution)] = posixpath.basename(f"{image}{extension}")
            continue
        offset = 0.0 if band == SCL else offsets.get(band, 0.0)
        files[(band, resolution)] = _BandFile(
            archive.raster(f"{image}{extension}"), offset, quantification, 0.0
        )
    product_uri = _text(mtd, "PRODUCT_URI", mtd_name)
    tile_match = _TILE_IN_NAME.search(_text(tile, "TILE_ID", tile_name))
    info = S2Info(
        product_id=product_uri.removesuffix(".SAFE"),
        spacecraft=_text(mtd, "SPACECRAFT_NAME", mtd_name),
        sensing_time=datetime.fromisoformat(_text(tile, "SENSING_TIME", tile_name)),
        processing_baseline=_text(mtd, "PROCESSING_BASELINE", mtd_name),
        tile_id=tile_match.group(1) if tile_match else None,
        crs=crs,
        cloud_cover_percent=_number(mtd, "Cloud_Coverage_Assessment", mtd_name),
        offsets=MappingProxyType(offsets),
        quantification_value=quantification,
    )
    return S2Product(info, files, grids, _safe_footprint(mtd), missing)


def _safe_offsets(mtd: ElementTree.Element, source: str) -> dict[str, float]:
    """Per-band DN offsets; products before baseline 04.00 list none, meaning 0."""
    names = {
        element.get("bandId"): _band_name(element.get("physicalBand", ""))
        for element in _elements(mtd, "Spectral_Information")
    }
    offsets = dict.fromkeys(names.values(), 0.0)
    for element in _elements(mtd, "BOA_ADD_OFFSET"):
        band_id = element.get("band_id")
        if band_id not in names:
            raise GeocolorError(f"{source}: BOA_ADD_OFFSET for unknown band_id {band_id!r}")
        offsets[names[band_id]] = _number(element, "BOA_ADD_OFFSET", source)
    return offsets


def _band_name(physical: str) -> str:
    """File-name spelling of a band: ``B1`` -> ``B01``, ``B8A`` stays."""
    return physical if physical.endswith("A") else f"B{int(physical[1:]):02d}"


def _tile_grids(tile: ElementTree.Element, crs: CRS, name: str) -> dict[int, Grid]:
    sizes = {int(el.get("resolution", 0)): el for el in _elements(tile, "Size")}
    grids = {}
    for position in _elements(tile, "Geoposition"):
        resolution = int(position.get("resolution", 0))
        if resolution not in sizes:
            raise GeocolorError(f"{name}: Geoposition at {resolution} m has no Size")
        x_step, x0, y_step, y0 = (
            _number(position, tag, name) for tag in ("XDIM", "ULX", "YDIM", "ULY")
        )
        transform = Affine(x_step, 0.0, x0, 0.0, y_step, y0)
        width = int(_number(sizes[resolution], "NCOLS", name))
        height = int(_number(sizes[resolution], "NROWS", name))
        grids[resolution] = Grid(crs, transform, width, height)
    return grids


def _safe_footprint(mtd: ElementTree.Element) -> Polygon | None:
    """The Global_Footprint ring (lat lon pairs in the XML) as a lon/lat polygon."""
    rings = _elements(mtd, "EXT_POS_LIST")
    if not rings:
        return None
    lat_lon = np.asarray((rings[0].text or "").split(), dtype=float).reshape(-1, 2)
    return Polygon(lat_lon[:, ::-1])


def _open_plain(rasters: Sequence[_Raster], label: str) -> S2Product:
    bands = []
    for raster in rasters:
        name = posixpath.basename(raster.path)
        match = _PLAIN_IMAGE.search(name.rsplit(".", 1)[0])
        if match is not None and name.lower().endswith(_PLAIN_SUFFIXES):
            bands.append((match.group(1).upper(), raster))
    if not bands:
        raise GeocolorError(
            f"{label}: neither MTD_MSIL2A.xml nor band files named like B02.tif, SCL.tif"
        )
    files: dict[tuple[str, int], _BandFile] = {}
    grids: dict[int, Grid] = {}
    for band, raster in bands:
        band_file, grid = _plain_band(raster)
        resolution = round(abs(grid.transform.a))
        if (band, resolution) in files:
            raise GeocolorError(f"{raster.path}: a second {band} file at {resolution} m")
        if grids.setdefault(resolution, grid) != grid:
            raise GeocolorError(f"{raster.path}: grid differs from the other {resolution} m files")
        files[(band, resolution)] = band_file
    if len({grid.crs for grid in grids.values()}) > 1:
        raise GeocolorError(f"{label}: band files are in different CRSs")
    spectral = {key: band_file for key, band_file in files.items() if key[0] != SCL}
    # integer (digital-number) files are the ones with nodata 0
    quantifications = {f.quantification for f in spectral.values() if f.nodata == 0.0}
    if len(quantifications) > 1:
        raise GeocolorError(f"{label}: band files disagree on BOA_QUANTIFICATION_VALUE")
    names = [posixpath.basename(raster.path) for _, raster in bands]
    tile_id = _first_match(_TILE_IN_NAME, names)
    stamp = _first_match(_TIME_IN_NAME, names)
    sensing_time = datetime.strptime(stamp, "%Y%m%dT%H%M%S").replace(tzinfo=UTC) if stamp else None
    info = S2Info(
        product_id=posixpath.basename(label.rstrip("/")),
        spacecraft=None,
        sensing_time=sensing_time,
        processing_baseline=None,
        tile_id=tile_id,
        crs=next(iter(grids.values())).crs,
        cloud_cover_percent=None,
        offsets=MappingProxyType({band: f.offset for (band, _), f in spectral.items()}),
        quantification_value=quantifications.pop() if quantifications else _DEFAULT_QUANTIFICATION,
    )
    return S2Product(info, files, grids, None)


def _first_match(pattern: re.Pattern[str], names: Iterable[str]) -> str | None:
    """First group of the first name ``pattern`` finds something in."""
    matches = (pattern.search(name) for name in names)
    return next((match.group(1) for match in matches if match), None)


def _plain_band(raster: _Raster) -> tuple[_BandFile, Grid]:
    """Scaling of a plain band file from its dtype and tags, and its grid."""
    with raster.open() as dataset:
        if dataset.crs is None:
            raise GeocolorError(f"{raster.path}: band file has no CRS")
        grid = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
        if np.issubdtype(np.dtype(dataset.dtypes[0]), np.floating):
            nodata = dataset.nodata
            return _BandFile(raster, 0.0, 1.0, None if nodata is None else float(nodata)), grid
        tags = {**dataset.tags(), **dataset.tags(1)}
    try:
        offset = float(tags.get("BOA_ADD_OFFSET", 0.0))
        quantification = float(tags.get("BOA_QUANTIFICATION_VALUE", _DEFAULT_QUANTIFICATION))
    except ValueError:
        raise GeocolorError(f"{raster.path}: non-numeric BOA_* tag") from None
    return _BandFile(raster, offset, quantification, 0.0), grid


def _raster_at(location: str) -> _Raster:
    fs, fs_path = fsspec.core.url_to_fs(location)
    native = _gdal_path(fs, fs_path)
    return _Raster(fs_path, fs.open) if native is None else _Raster(native)


def _check_on_grid(raster: _Raster, grid: Grid) -> None:
    """Refuse a raster whose header disagrees with the product's grid."""
    own = raster.grid()
    if own.crs != grid.crs:
        raise GeocolorError(f"{raster.path}: CRS {own.crs} differs from the tile's {grid.crs}")
    if (own.width, own.height) != (grid.width, grid.height) or not own.transform.almost_equals(
        grid.transform
    ):
        raise GeocolorError(
            f"{raster.path}: {own.width} x {own.height} pixels at {tuple(own.transform)[:6]} "
            f"do not match the tile grid {grid.width} x {grid.height} at "
            f"{tuple(grid.transform)[:6]}"
        )


def _reflectance_block(band_file: _BandFile, block_info: Any = None) -> np.ndarray:
    rows, cols = block_info[None]["array-location"]
    stored = band_file.raster.read(rows, cols)
    reflectance = stored.astype(np.float32)
    reflectance += np.float32(band_file.offset)
    reflectance /= np.float32(band_file.quantification)
    if band_file.nodata is not None:
        reflectance[stored == band_file.nodata] = np.nan
    return reflectance


def _class_lookup(classes: Iterable[int], label: str) -> np.ndarray:
    """A 256-entry table: True for masked SCL codes (SCL is uint8)."""
    codes = np.asarray(sorted({int(code) for code in classes}), dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() > 255):
        raise GeocolorError(f"{label}: SCL class codes must lie in 0..255, got {codes.tolist()}")
    lookup = np.zeros(256, dtype=bool)
    lookup[codes] = True
    return lookup


def _nearest(
    start: int, stop: int, origin: float, step: float, source_origin: float, source_step: float
) -> np.ndarray:
    """Source pixel index holding each target pixel centre along one axis."""
    centres = origin + (np.arange(start, stop) + 0.5) * step
    return np.floor((centres - source_origin) / source_step).astype(np.int64)


def _mask_block(
    scl: _Raster, source: Grid, target: Grid, lookup: np.ndarray, block_info: Any = None
) -> np.ndarray:
    (row0, row1), (col0, col1) = block_info[None]["array-location"]
    src, dst = source.transform, target.transform
    rows = _nearest(row0, row1, dst.f, dst.e, src.f, src.e)
    cols = _nearest(col0, col1, dst.c, dst.a, src.c, src.a)
    row_inside = (rows >= 0) & (rows < source.height)
    col_inside = (cols >= 0) & (cols < source.width)
    classes = np.full((row1 - row0, col1 - col0), SCLClass.NO_DATA, dtype=np.uint8)
    if row_inside.any() and col_inside.any():
        row_lo, row_hi = rows[row_inside].min(), rows[row_inside].max() + 1
        col_lo, col_hi = cols[col_inside].min(), cols[col_inside].max() + 1
        window = scl.read((row_lo, row_hi), (col_lo, col_hi))
        picked = window[np.ix_(rows[row_inside] - row_lo, cols[col_inside] - col_lo)]
        classes[np.ix_(row_inside, col_inside)] = picked
    return lookup[classes]


def _on_grid(data: da.Array, grid: Grid, name: str) -> xr.DataArray:
    """Wrap a lazy (…, y, x) array with pixel-centre coordinates, CRS and transform."""
    x, y = grid.pixel_centres()
    dims = ("band", "y", "x")[-data.ndim :]
    array = xr.DataArray(data, dims=dims, coords={"y": y, "x": x}, name=name)
    return array.rio.write_crs(grid.crs).rio.write_transform(grid.transform)


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _elements(root: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    """Descendants called ``name`` whatever their namespace (ESA mixes prefixed and bare)."""
    return [element for element in root.iter() if _local_name(element.tag) == name]


def _text(root: ElementTree.Element, name: str, source: str) -> str:
    found = _elements(root, name)
    if not found or not (found[0].text or "").strip():
        raise GeocolorError(f"{source}: missing {name}")
    return (found[0].text or "").strip()


def _number(root: ElementTree.Element, name: str, source: str) -> float:
    text = _text(root, name, source)
    try:
        return float(text)
    except ValueError:
        raise GeocolorError(f"{source}: {name} is not a number ({text!r})") from None
