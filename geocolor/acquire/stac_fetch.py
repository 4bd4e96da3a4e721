"""Fetching STAC items: the AOI's windows of COG assets, or whole SAFE zips.

Where an acquisition's items all carry the COGs the chain needs (Sentinel-2 L2A bands;
Sentinel-1 backscatter per polarisation), only the AOI is read, remotely through GDAL's
``/vsicurl/``, warped onto the fetch grid and written in the forms the Sentinel Hub
fetch writes (see :mod:`geocolor.acquire.fetch`): ``S1_<time>.tif`` and ``S2_<time>/``
band folders, Sentinel-2 as harmonised digital numbers. Items of one pass are mosaicked
in time order, the latest on top. Otherwise each item's SAFE zip is downloaded whole
(:mod:`geocolor.acquire.download`) as ``<item id>.zip``, or, where the catalogue
publishes a GRD product file by file, its SAFE folder is rebuilt as ``<product>.SAFE``
(:mod:`geocolor.acquire.stac_safe`); ``prepare`` and ``colorize`` open either as they
open any SAFE.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import requests
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from geocolor.acquire.catalog import Acquisition
from geocolor.acquire.download import download
from geocolor.acquire.fetch import FetchConfig, aoi_grid, request_windows
from geocolor.acquire.fetched_files import output_profile, provenance_tags, staged_acquisition
from geocolor.acquire.s3_access import gdal_path, has_keys, is_s3, s3_target
from geocolor.acquire.stac_assets import (
    BandAsset,
    s1_measure,
    s1_polarisation_assets,
    s2_band_assets,
    safe_asset,
    safe_parts,
)
from geocolor.acquire.stac_safe import rebuild_safe
from geocolor.errors import GeocolorError, UsageError
from geocolor.geo.grid import Grid
from geocolor.progress import progress_bar
from geocolor.s2.product import SCL

POLARISATIONS = ("VV", "VH")
# GDAL settings for reading remote COGs: no directory listing, retries of 5xx/429
GDAL_REMOTE = {"GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR", "GDAL_HTTP_MAX_RETRY": "3"}
_QUANTIFICATION = 10000.0


@dataclass(frozen=True)
class _Layer:
    """One output file: its remote sources (one per item) and how to turn them into pixels."""

    file_name: str
    sources: tuple[str, ...]
    dtype: str
    nodata: float
    description: str
    resampling: Resampling
    convert: Callable[[np.ndarray, int], np.ndarray]


def fetch_items(
    acquisitions: Sequence[Acquisition],
    items: dict[str, dict[str, Any]],
    aoi: BaseGeometry,
    config: FetchConfig,
    output_dir: str | os.PathLike[str],
    *,
    source: str,
    session: Callable[[bool], requests.Session],
) -> list[Path]:
    """Fetch each acquisition's items into ``output_dir``; return the outputs' paths.

    ``session(needs_login)`` gives the HTTP session for a download, logged in when the
    catalogue marks the asset as needing it; ``source`` names the catalogue in the tags.
    """
    folder = Path(output_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeocolorError(f"{folder}: cannot create the output folder ({exc})") from None
    grid = aoi_grid(aoi, config)
    outputs: list[Path] = []
    for acquisition in acquisitions:
        features = [items[product.product_id] for product in acquisition.products]
        layers = _layers(acquisition, features, config)
        if layers is not None:
            outputs.append(_write_windows(acquisition, layers, grid, config, folder, source))
            continue
        for feature in features:
            asset = safe_asset(feature)
            parts = safe_parts(feature)
            if asset is None and parts is not None:
                outputs.append(
                    rebuild_safe(
                        parts,
                        feature["id"],
                        folder,
                        attempts=config.service.max_attempts,
                        retry_sleep=config.service.retry_sleep,
                    )
                )
                continue
            if asset is None:
                for band in s2_band_assets(feature).values():
                    if is_s3(band.href):
                        s3_target(band.href)  # says which keys are missing
                raise GeocolorError(
                    f"STAC item {feature['id']}: neither the COG assets "
                    f"{_wanted_assets(acquisition.mission, config)} nor a SAFE zip or files"
                )
            outputs.append(
                download(
                    session(asset.needs_login),
                    asset.href,
                    folder / f"{feature['id'].removesuffix('.SAFE')}.zip",
                    checksum=asset.checksum,
                    attempts=config.service.max_attempts,
                    retry_sleep=config.service.retry_sleep,
                    label=feature["id"],
                )
            )
    return outputs


def _wanted_assets(mission: str, config: FetchConfig) -> str:
    names = POLARISATIONS if mission == "S1" else (*config.s2_bands, SCL)
    return "/".join(names)


def _layers(
    acquisition: Acquisition, features: list[dict[str, Any]], config: FetchConfig
) -> list[_Layer] | None:
    """The output layers of an acquisition whose items all have the COGs, else None."""
    if acquisition.mission == "S1":
        polarised = [s1_polarisation_assets(feature) for feature in features]
        if not all(set(POLARISATIONS) <= set(assets) for assets in polarised):
            return None
        measure = s1_measure(features[0])
        if measure != config.backscatter:
            raise UsageError(
                f"{acquisition.name}: the catalogue's Sentinel-1 COGs hold {measure}, "
                f"not {config.backscatter} (set backscatter: {measure})"
            )
        if config.speckle != "none":
            raise UsageError("--speckle filters on the Process API only; STAC COGs are as stored")
        unit = "dB" if config.db else "linear"
        return [
            _Layer(
                f"{acquisition.name}.tif",
                tuple(assets[pol] for assets in polarised),
                "float32",
                float("nan"),
                f"{pol} {measure} {unit}",
                Resampling.bilinear,
                lambda image, _index: _backscatter(image, db=config.db),
            )
            for pol in POLARISATIONS
        ]
    banded = [s2_band_assets(feature) for feature in features]
    wanted = (*config.s2_bands, SCL)
    if not all(set(wanted) <= set(assets) for assets in banded):
        return None
    if not all(
        has_keys(assets[band].href)
        for assets in banded
        for band in wanted
        if is_s3(assets[band].href)
    ):
        # s3:// bands without keys (CDSE's JPEG 2000): the SAFE zip instead
        return None
    return [
        _Layer(
            f"{acquisition.name}_{band}.tif",
            tuple(assets[band].href for assets in banded),
            "uint8" if band == SCL else "uint16",
            0,
            band,
            Resampling.nearest if band == SCL else Resampling.bilinear,
            _class_codes if band == SCL else _harmoniser([assets[band] for assets in banded]),
        )
        for band in wanted
    ]


def _write_windows(
    acquisition: Acquisition,
    layers: list[_Layer],
    grid: Grid,
    config: FetchConfig,
    folder: Path,
    source: str,
) -> Path:
    single = acquisition.mission == "S1"
    target = folder / (layers[0].file_name if single else acquisition.name)
    run_key = hashlib.sha256(
        json.dumps(
            {
                "sources": [[href.split("?")[0] for href in layer.sources] for layer in layers],
                "grid": [grid.crs.to_string(), list(grid.transform)[:6], grid.width, grid.height],
                "descriptions": [layer.description for layer in layers],
            }
        ).encode()
    ).hexdigest()
    if target.exists():
        _check_same_run(target if single else target / layers[0].file_name, target, run_key)
        return target
    tags = provenance_tags(source, acquisition, run_key)
    if not single:
        tags |= {"BOA_ADD_OFFSET": "0", "BOA_QUANTIFICATION_VALUE": f"{_QUANTIFICATION:g}"}
    single_file = layers[0].file_name if single else None
    with staged_acquisition(folder, acquisition.name, target, single_file) as staging:
        files = [layers] if single else [[layer] for layer in layers]
        for group in files:
            _write_file(staging / group[0].file_name, group, grid, config, tags, acquisition.name)
    return target


def _write_file(
    path: Path,
    layers: list[_Layer],
    grid: Grid,
    config: FetchConfig,
    tags: dict[str, str],
    label: str,
) -> None:
    first = layers[0]
    windows = request_windows(grid, config.max_request_pixels)
    profile = output_profile(grid, len(layers), first.dtype, first.nodata)
    with (
        rasterio.Env(**GDAL_REMOTE),
        rasterio.open(path, "w", **profile) as dataset,
        progress_bar(len(windows) * len(layers), desc=label, unit="window") as bar,
    ):
        dataset.update_tags(**tags)
        for index, layer in enumerate(layers, start=1):
            dataset.set_band_description(index, layer.description)
            for window in windows:
                dataset.write(_mosaic(layer, grid, window), index, window=window)
                bar.update(1)


def _mosaic(layer: _Layer, grid: Grid, window: Window) -> np.ndarray:
    """The layer over ``window``: each item's pixels where no later item has data."""
    shape = (int(window.height), int(window.width))
    result = np.full(shape, layer.nodata, dtype=layer.dtype)
    empty = np.ones(shape, dtype=bool)
    for position, href in reversed(list(enumerate(layer.sources))):
        values, valid = _warped(href, grid, window, layer.resampling)
        take = empty & valid
        result[take] = layer.convert(values, position)[take]
        empty &= ~take
    return result


def _warped(
    href: str, grid: Grid, window: Window, resampling: Resampling
) -> tuple[np.ndarray, np.ndarray]:
    """``href``'s first band on ``grid`` over ``window`` (float64) and where it has data."""
    left, top = grid.transform @ (window.col_off, window.row_off)
    transform = rasterio.Affine(
        grid.transform.a, grid.transform.b, left, grid.transform.d, grid.transform.e, top
    )
    try:
        with (
            rasterio.open(gdal_path(href)) as src,
            WarpedVRT(
                src,
                crs=grid.crs,
                transform=transform,
                width=int(window.width),
                height=int(window.height),
                resampling=resampling,
                src_nodata=src.nodata if src.nodata is not None else 0,
                nodata=src.nodata if src.nodata is not None else 0,
            ) as warped,
        ):
            band = warped.read(1, masked=True)
    except RasterioError as exc:
        raise GeocolorError(f"{href.split('?')[0]}: cannot read the raster ({exc})") from None
    values = np.ma.getdata(band).astype(np.float64)
    valid = ~np.ma.getmaskarray(band) & np.isfinite(values)
    return values, valid


def _harmoniser(assets: list[BandAsset]) -> Callable[[np.ndarray, int], np.ndarray]:
    """Digital numbers of item ``index`` -> harmonised DNs (offset 0, 10000 per unit)."""

    def convert(values: np.ndarray, index: int) -> np.ndarray:
        asset = assets[index]
        reflectance = (values + asset.offset) / asset.quantification
        return np.clip(np.round(reflectance * _QUANTIFICATION), 1, 65535).astype(np.uint16)

    return convert


def _class_codes(values: np.ndarray, _index: int) -> np.ndarray:
    return values.astype(np.uint8)


def _backscatter(values: np.ndarray, *, db: bool) -> np.ndarray:
    power = values.astype(np.float32)
    if not db:
        return power
    with np.errstate(divide="ignore", invalid="ignore"):
        decibels = np.float32(10.0) * np.log10(power)
    return np.where(np.isfinite(decibels), decibels, np.float32(np.nan))


def _check_same_run(first: Path, target: Path, run_key: str) -> None:
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
