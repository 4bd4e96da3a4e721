"""Downloading acquisitions through the Process API as GeoTIFFs on one grid.

Every acquisition of a fetch lands on the same grid (the AOI's UTM zone, or a chosen
CRS, at a chosen resolution), so Sentinel-1 and Sentinel-2 outputs line up pixel for
pixel. Grids larger than one request's size limit are cut into windows, each fetched
by its own request and written into place. Each answer is kept in a local cache keyed
by the request, written under a temporary name and renamed, so an interrupted run
loses at most the requests in flight and a rerun fetches only what is missing. Outputs
are written in a hidden ``.partial`` folder and renamed when whole.

Outputs are what ``prepare`` and ``colorize`` read:

- Sentinel-1: ``S1_<start>.tif``, float32 backscatter, one band per polarisation
  described like ``"VV sigma0 dB"`` (the measure as ``process-s1 --measure`` names it:
  ``gamma0-rtc`` for the service's terrain-flattened γ⁰), NaN as nodata.
- Sentinel-2: a folder ``S2_<start>/`` of band files ``S2_<start>_B02.tif`` …
  ``S2_<start>_SCL.tif``: harmonised L2A digital numbers (reflectance × 10000, no
  offset, 0 = no data), the form :func:`geocolor.s2.product.open_s2` reads as a
  band-file folder.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pydantic
import rasterio
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.windows import Window
from sentinelhub.api.base_request import InputDataDict
from sentinelhub.api.process import SentinelHubRequest
from sentinelhub.constants import CRS as SHCRS
from sentinelhub.constants import MimeType, MosaickingOrder
from sentinelhub.download.models import DownloadRequest
from sentinelhub.geometry import BBox
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import S1_COLLECTION, S2_COLLECTION, Acquisition
from geocolor.acquire.fetched_files import output_profile, provenance_tags, staged_acquisition
from geocolor.acquire.sentinelhub_session import Connection, ServiceSettings, service_errors
from geocolor.acquire.source import DEFAULT_SOURCE
from geocolor.config import Config
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.crs import named_or_utm_crs
from geocolor.geo.grid import Grid, grid_covering
from geocolor.io.filesystems import atomic_write
from geocolor.progress import progress_bar
from geocolor.s2.product import BAND_ORDER, SCL

MAX_REQUEST_PIXELS = 2500
POLARISATIONS = ("VV", "VH")
Backscatter = Literal["sigma0", "gamma0", "gamma0-rtc"]
"""The measures a fetch asks for, named as ``process-s1 --measure`` names them: gamma0 is
ellipsoid γ⁰ (σ⁰ over the ellipsoid incidence's cosine), gamma0-rtc terrain-flattened γ⁰."""
BACKSCATTER_MEASURES: tuple[str, ...] = get_args(Backscatter)
# the Process API's backCoeff for each measure
_BACK_COEFFICIENTS = {
    "sigma0": "SIGMA0_ELLIPSOID",
    "gamma0": "GAMMA0_ELLIPSOID",
    "gamma0-rtc": "GAMMA0_TERRAIN",
}
_TIME_MARGIN = timedelta(minutes=1)


class FetchConfig(Config):
    """What to request and how: source, grid, Sentinel-1 processing, Sentinel-2 bands, limits."""

    source: str = DEFAULT_SOURCE
    resolution: float = pydantic.Field(default=10.0, gt=0)
    crs: str | None = None
    backscatter: Backscatter = "sigma0"
    db: bool = True
    speckle: Literal["none", "lee"] = "none"
    speckle_window: int = pydantic.Field(default=5, ge=3, le=7)
    s2_bands: tuple[str, ...] = ("B02", "B03", "B04", "B08")
    max_request_pixels: int = pydantic.Field(
        default=MAX_REQUEST_PIXELS, ge=1, le=MAX_REQUEST_PIXELS
    )
    threads: int = pydantic.Field(default=4, ge=1)
    cache: str | None = None
    service: ServiceSettings = pydantic.Field(default_factory=ServiceSettings)

    @pydantic.field_validator("s2_bands")
    @classmethod
    def _known_bands(cls, bands: tuple[str, ...]) -> tuple[str, ...]:
        bands = tuple(band.upper() for band in bands)
        unknown = [band for band in bands if band not in BAND_ORDER]
        if unknown or not bands or len(set(bands)) != len(bands):
            raise ValueError(f"need distinct Sentinel-2 bands out of {', '.join(BAND_ORDER)}")
        return bands

    @pydantic.field_validator("speckle_window")
    @classmethod
    def _odd(cls, window: int) -> int:
        if window % 2 == 0:
            raise ValueError("the speckle window must be odd")
        return window


@dataclass(frozen=True)
class _OutputFile:
    """One output file: which converted bands it holds and how they are stored."""

    file_name: str
    bands: tuple[int, ...]
    dtype: str
    nodata: float
    descriptions: tuple[str, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class _Recipe:
    """How to ask for an acquisition and turn the answers into output files."""

    evalscript: str
    input_data: InputDataDict
    response_bands: int
    convert: Callable[[np.ndarray], np.ndarray]
    outputs: tuple[_OutputFile, ...]
    single_file: bool


def aoi_grid(aoi: BaseGeometry, config: FetchConfig) -> Grid:
    """The grid every output of a fetch shares: the AOI's UTM zone unless a CRS is given."""
    crs = named_or_utm_crs(config.crs, aoi, "--crs")
    if crs.to_epsg() is None:
        raise UsageError(f"--crs {config.crs!r}: the Process API needs a CRS with an EPSG code")
    return grid_covering(aoi, crs, config.resolution)


def request_windows(grid: Grid, max_pixels: int) -> list[Window]:
    """Near-equal windows tiling ``grid``, none wider or taller than ``max_pixels``."""
    rows = _cuts(grid.height, max_pixels)
    cols = _cuts(grid.width, max_pixels)
    return [
        Window(int(c0), int(r0), int(c1 - c0), int(r1 - r0))
        for r0, r1 in itertools.pairwise(rows)
        for c0, c1 in itertools.pairwise(cols)
    ]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/geocolor/sentinelhub`` (``~/.cache`` when unset)."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "geocolor" / "sentinelhub"


def fetch_acquisitions(
    connection: Connection,
    acquisitions: Sequence[Acquisition],
    aoi: BaseGeometry,
    config: FetchConfig,
    output_dir: str | os.PathLike[str],
) -> list[Path]:
    """Fetch each acquisition into ``output_dir`` on one grid; return the outputs' paths.

    An output already there from the same requests is kept as it is; one made with
    other parameters is an error rather than silently mixed in.
    """
    grid = aoi_grid(aoi, config)
    cache = _Cache(Path(config.cache) if config.cache else default_cache_dir())
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeocolorError(f"{folder}: cannot create the output folder ({exc})") from None
    return [
        _fetch_one(connection, acquisition, grid, config, folder, cache)
        for acquisition in acquisitions
    ]


def _fetch_one(
    connection: Connection,
    acquisition: Acquisition,
    grid: Grid,
    config: FetchConfig,
    folder: Path,
    cache: _Cache,
) -> Path:
    recipe = (
        _s1_recipe(acquisition, config)
        if acquisition.mission == "S1"
        else _s2_recipe(acquisition, config)
    )
    windows = request_windows(grid, config.max_request_pixels)
    requests = [_download_request(connection, recipe, grid, window) for window in windows]
    keys = "".join(_request_key(request) for request in requests)
    run_key = hashlib.sha256(keys.encode()).hexdigest()
    target = folder / (recipe.outputs[0].file_name if recipe.single_file else acquisition.name)
    if target.exists():
        _check_same_run(target, recipe, run_key)
        return target
    tags = provenance_tags(
        f"Sentinel Hub Process API at {connection.credentials.base_url}", acquisition, run_key
    )
    tags["request"] = json.dumps(
        {
            "input": recipe.input_data,
            "evalscript": recipe.evalscript,
            "crs": grid.crs.to_string(),
            "transform": list(grid.transform)[:6],
            "width": grid.width,
            "height": grid.height,
            "requests": len(windows),
        },
        sort_keys=True,
    )
    single_file = recipe.outputs[0].file_name if recipe.single_file else None
    with staged_acquisition(folder, acquisition.name, target, single_file) as staging:
        answers = _answers(
            connection, recipe, windows, requests, cache, config.threads, acquisition.name
        )
        _write_outputs(staging, recipe, grid, tags, answers)
    return target


def _write_outputs(
    staging: Path,
    recipe: _Recipe,
    grid: Grid,
    tags: dict[str, str],
    answers: Iterator[tuple[Window, np.ndarray]],
) -> None:
    datasets = []
    try:
        for output in recipe.outputs:
            dataset = rasterio.open(staging / output.file_name, "w", **_profile(grid, output))
            datasets.append(dataset)
            for index, text in enumerate(output.descriptions, start=1):
                dataset.set_band_description(index, text)
            dataset.update_tags(**tags, **output.tags)
        for window, image in answers:
            values = recipe.convert(image)
            for output, dataset in zip(recipe.outputs, datasets, strict=True):
                dataset.write(values[list(output.bands)].astype(output.dtype), window=window)
    finally:
        for dataset in datasets:
            dataset.close()


def _answers(
    connection: Connection,
    recipe: _Recipe,
    windows: Sequence[Window],
    requests: Sequence[DownloadRequest],
    cache: _Cache,
    threads: int,
    label: str,
) -> Iterator[tuple[Window, np.ndarray]]:
    """Each window's image: from the cache, else downloaded in batches of parallel requests.

    Answers are cached as each batch arrives, before they are used, so an interrupted
    run has kept every batch it finished.
    """
    keys = [_request_key(request) for request in requests]
    missing = [index for index, key in enumerate(keys) if not cache.has(key)]
    cached = sorted(set(range(len(keys))) - set(missing))
    batch_size = 2 * threads
    with progress_bar(len(windows), desc=label, unit="request") as bar:
        for index in cached:
            content = cache.read(keys[index])
            yield windows[index], _decode(content, windows[index], recipe, cache.path(keys[index]))
            bar.update(1)
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            with service_errors(connection.credentials, "process request"):
                responses = connection.client.download(
                    [requests[index] for index in batch], max_threads=threads, decode_data=False
                )
            for index, response in zip(batch, responses, strict=True):
                cache.write(keys[index], response.content)
            for index, response in zip(batch, responses, strict=True):
                source = f"the Process API answer for {label}"
                yield windows[index], _decode(response.content, windows[index], recipe, source)
                bar.update(1)


def _s1_recipe(acquisition: Acquisition, config: FetchConfig) -> _Recipe:
    processing: dict[str, Any] = {
        "backCoeff": _BACK_COEFFICIENTS[config.backscatter],
        "orthorectify": True,
        "demInstance": "COPERNICUS",
        "speckleFilter": {"type": "NONE"},
    }
    if config.speckle == "lee":
        size = config.speckle_window
        processing["speckleFilter"] = {"type": "LEE", "windowSizeX": size, "windowSizeY": size}
    other: dict[str, Any] = {"processing": processing}
    if acquisition.orbit_direction:
        other["dataFilter"] = {"orbitDirection": acquisition.orbit_direction.upper()}
    input_data = SentinelHubRequest.input_data(
        S1_COLLECTION,
        time_interval=_time_range(acquisition),
        mosaicking_order=MosaickingOrder.MOST_RECENT,
        other_args=other,
    )
    unit = "dB" if config.db else "linear"
    output = _OutputFile(
        file_name=f"{acquisition.name}.tif",
        bands=tuple(range(len(POLARISATIONS))),
        dtype="float32",
        nodata=float("nan"),
        descriptions=tuple(f"{pol} {config.backscatter} {unit}" for pol in POLARISATIONS),
        tags={
            "polarisations": ",".join(POLARISATIONS),
            # what colorize and prepare need to know of the filtering (geocolor.s1.conventions)
            "processing": json.dumps(
                {
                    "measure": config.backscatter,
                    "db": config.db,
                    "speckle": config.speckle,
                    "window": config.speckle_window if config.speckle == "lee" else None,
                },
                sort_keys=True,
            ),
        },
    )
    return _Recipe(
        evalscript=_evalscript((*POLARISATIONS, "dataMask"), "FLOAT32", units=None),
        input_data=input_data,
        response_bands=len(POLARISATIONS) + 1,
        convert=lambda image: _backscatter(image, db=config.db),
        outputs=(output,),
        single_file=True,
    )


def _s2_recipe(acquisition: Acquisition, config: FetchConfig) -> _Recipe:
    bands = (*config.s2_bands, SCL)
    input_data = SentinelHubRequest.input_data(
        S2_COLLECTION,
        time_interval=_time_range(acquisition),
        mosaicking_order=MosaickingOrder.MOST_RECENT,
        # harmonised digital numbers carry no BOA offset, whatever the product baseline
        other_args={"processing": {"harmonizeValues": True}},
    )
    scaling = {"BOA_ADD_OFFSET": "0", "BOA_QUANTIFICATION_VALUE": "10000"}
    outputs = tuple(
        _OutputFile(
            file_name=f"{acquisition.name}_{band}.tif",
            bands=(index,),
            dtype="uint8" if band == SCL else "uint16",
            nodata=0,
            descriptions=(band,),
            tags={} if band == SCL else scaling,
        )
        for index, band in enumerate(bands)
    )
    return _Recipe(
        evalscript=_evalscript(bands, "UINT16", units="DN"),
        input_data=input_data,
        response_bands=len(bands),
        convert=lambda image: image,
        outputs=outputs,
        single_file=False,
    )


def _evalscript(bands: Sequence[str], sample_type: str, units: str | None) -> str:
    """A version-3 evalscript returning ``bands`` as they are, in order."""
    unit_setting = f", units: {json.dumps(units)}" if units else ""
    values = ", ".join(f"sample.{band}" for band in bands)
    return (
        "//VERSION=3\n"
        "function setup() {\n"
        "  return {\n"
        f"    input: [{{bands: {json.dumps(list(bands))}{unit_setting}}}],\n"
        f'    output: {{bands: {len(bands)}, sampleType: "{sample_type}"}}\n'
        "  };\n"
        "}\n"
        "function evaluatePixel(sample) {\n"
        f"  return [{values}];\n"
        "}\n"
    )


def _backscatter(image: np.ndarray, *, db: bool) -> np.ndarray:
    """Linear power and the data mask -> float32 backscatter, NaN where there is no data."""
    power = image[:-1].astype(np.float32)
    valid = image[-1] > 0
    if db:
        with np.errstate(divide="ignore", invalid="ignore"):
            power = np.float32(10.0) * np.log10(power)
        valid = valid & np.isfinite(power)
    return np.where(valid, power, np.float32(np.nan))


def _time_range(acquisition: Acquisition) -> tuple[Any, Any]:
    return acquisition.start - _TIME_MARGIN, acquisition.end + _TIME_MARGIN


def _download_request(
    connection: Connection, recipe: _Recipe, grid: Grid, window: Window
) -> DownloadRequest:
    left, top = grid.transform @ (window.col_off, window.row_off)
    right, bottom = grid.transform @ (window.col_off + window.width, window.row_off + window.height)
    request = SentinelHubRequest(
        evalscript=recipe.evalscript,
        input_data=[recipe.input_data],
        responses=[SentinelHubRequest.output_response("default", MimeType.TIFF)],
        bbox=BBox((left, bottom, right, top), crs=SHCRS(grid.crs.to_epsg())),
        size=(int(window.width), int(window.height)),
        config=connection.config,
    )
    download: DownloadRequest = request.download_list[0]
    return download


def _request_key(request: DownloadRequest) -> str:
    """Cache key: the endpoint and the whole request body."""
    text = json.dumps({"url": request.url, "payload": request.post_values}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _decode(content: bytes, window: Window, recipe: _Recipe, source: object) -> np.ndarray:
    shape = (recipe.response_bands, int(window.height), int(window.width))
    try:
        with MemoryFile(content) as memory, memory.open() as dataset:
            image: np.ndarray = dataset.read()
    except RasterioError:
        raise GeocolorError(f"{source}: not a readable GeoTIFF") from None
    if image.shape != shape:
        raise GeocolorError(f"{source}: {image.shape} pixels, expected {shape}")
    return image


def _profile(grid: Grid, output: _OutputFile) -> dict[str, Any]:
    return output_profile(grid, len(output.bands), output.dtype, output.nodata)


def _check_same_run(target: Path, recipe: _Recipe, run_key: str) -> None:
    first = target if recipe.single_file else target / recipe.outputs[0].file_name
    try:
        with rasterio.open(first) as dataset:
            previous = dataset.tags().get("request_key")
    except RasterioError:
        previous = None
    if previous != run_key:
        raise GeocolorError(
            f"{target}: already there from a fetch with other parameters "
            "(remove it or choose another output folder)"
        )


def _cuts(size: int, max_pixels: int) -> np.ndarray:
    pieces = -(-size // max_pixels)
    return np.round(np.linspace(0, size, pieces + 1)).astype(int)


class _Cache:
    """Process API answers on disk, one file per request key, each written whole."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """Where the answer to request ``key`` is kept."""
        return self.root / key[:2] / f"{key}.tif"

    def has(self, key: str) -> bool:
        """Whether the answer to ``key`` is cached."""
        return self.path(key).is_file()

    def read(self, key: str) -> bytes:
        """The cached answer to ``key``."""
        return self.path(key).read_bytes()

    def write(self, key: str, content: bytes) -> None:
        """Keep ``content`` under ``key``: a temporary file renamed, so never half-written."""
        try:
            with atomic_write(str(self.path(key))) as stream:
                stream.write(content)
        except OSError as exc:
            raise GeocolorError(f"{self.root}: cannot write the download cache ({exc})") from None
