"""Sentinel-1 backscatter as one single-band GeoTIFF per polarisation.

Public datasets ship their radar this way: a BigEarthNet patch folder holds
``<name>_VV.tif`` and ``<name>_VH.tif``. Such files are opened together as one scene
(an ``S1Source``), given as ``{"VV": path, "VH": path}`` or as the folder holding
them; they must lie on one grid. Each file is a processed raster
(:mod:`geocolor.s1.raster`) whose one band is the polarisation it was given as.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass

import dask.array as da
import fsspec
import numpy as np
from shapely.geometry.base import BaseGeometry

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.s1.backscatter import Backscatter, S1Config
from geocolor.s1.raster import BackscatterRaster, RasterInfo, open_backscatter_raster
from geocolor.s1.source import Hold

POLARISATIONS = ("VV", "VH", "HH", "HV")
# a band file named by its polarisation: <name>_VV.tif
BAND_FILE = re.compile(rf"^(?P<name>.+)_(?P<pol>{'|'.join(POLARISATIONS)})\.tiff?$", re.IGNORECASE)


@dataclass(frozen=True)
class BandFiles:
    """Several single-band rasters on one grid, one per polarisation (an ``S1Source``)."""

    info: RasterInfo
    rasters: tuple[BackscatterRaster, ...]
    #: The polarisation of each file, as it was given.
    polarisations: tuple[str, ...]

    def footprint(self) -> BaseGeometry:
        """The first file's outline of valid data (the files share their grid)."""
        return self.rasters[0].footprint()

    def native_grid(self) -> Grid:
        """The files' common grid."""
        return self.rasters[0].grid

    def described_as(self, descriptions: tuple[str, ...]) -> BandFiles:
        """The same files, their bands described (one each) as ``descriptions`` say."""
        rasters = tuple(
            dataclasses.replace(r, info=dataclasses.replace(r.info, descriptions=(text,)))
            for r, text in zip(self.rasters, descriptions, strict=True)
        )
        info = dataclasses.replace(self.info, descriptions=descriptions)
        return BandFiles(info, rasters, self.polarisations)

    def overview(self) -> np.ndarray:
        """Each file's decimated read (see :meth:`BackscatterRaster.overview`), stacked."""
        return np.concatenate([raster.overview() for raster in self.rasters])

    def on_grid(self, config: S1Config, grid: Grid, hold: Hold | None = None) -> Backscatter:
        """Each polarisation ``config`` asks for from its file, stacked in that order."""
        by_pol = {
            text.split()[0].upper(): r
            for r, text in zip(self.rasters, self.info.descriptions, strict=True)
            if text
        }
        wanted = config.polarisations or tuple(by_pol)
        missing = [pol for pol in wanted if pol.upper() not in by_pol]
        if missing:
            raise GeocolorError(
                f"{self.info.path}: no {', '.join(missing)} file"
                f" (has {', '.join(by_pol) or 'none described'})"
            )
        parts = [
            by_pol[pol.upper()].on_grid(config.model_copy(update={"polarisations": (pol,)}), grid)
            for pol in wanted
        ]
        return dataclasses.replace(
            parts[0],
            image=da.concatenate([part.image for part in parts]),
            polarisations=tuple(p for part in parts for p in part.polarisations),
            descriptions=tuple(d for part in parts for d in part.descriptions),
        )


def open_band_files(paths: Mapping[str, str]) -> BandFiles:
    """Open ``{"VV": path, "VH": path, ...}`` as one scene.

    A file's own band description, when it has one, must name the polarisation it is
    given as; one without is described later from the model's conventions
    (:func:`geocolor.colorize.conventions.described_scene`).

    Raises
    ------
    GeocolorError
        One line naming the file that is not a single band, or not on the first's grid.
    """
    if not paths:
        raise GeocolorError("no band file given")
    rasters: list[BackscatterRaster] = []
    descriptions: list[str] = []
    for pol, path in paths.items():
        if pol.upper() not in POLARISATIONS:
            raise GeocolorError(f"{path}: {pol} is no Sentinel-1 polarisation")
        raster = open_backscatter_raster(path)
        if len(raster.info.descriptions) != 1:
            raise GeocolorError(
                f"{path}: {len(raster.info.descriptions)} bands, a {pol.upper()} file holds one"
            )
        text = raster.info.descriptions[0]
        if text and text.split()[0].upper() != pol.upper():
            raise GeocolorError(f"{path}: its band is described {text!r}, not {pol.upper()}")
        if rasters and raster.grid != rasters[0].grid:
            raise GeocolorError(f"{path}: not on the grid of {rasters[0].path}")
        rasters.append(raster)
        descriptions.append(text)
    first = rasters[0].info
    name = BAND_FILE.match(first.path.rsplit("/", 1)[-1])
    info = dataclasses.replace(
        first,
        path=",".join(paths.values()),
        product_id=name.group("name") if name else first.product_id,
        descriptions=tuple(descriptions),
    )
    return BandFiles(info, tuple(rasters), tuple(pol.upper() for pol in paths))


def polarisation_in_name(path: str) -> str | None:
    """``"VH"`` for ``.../<name>_VH.tif``; None for a file not named by a polarisation."""
    match = BAND_FILE.match(path.rstrip("/").rsplit("/", 1)[-1])
    return match.group("pol").upper() if match else None


def band_files_in(folder: str) -> dict[str, str]:
    """Polarisation -> file of the ``<name>_<POL>.tif`` files directly in ``folder``.

    Empty when ``folder`` is no folder or holds none; an error when it holds two files
    of one polarisation (two scenes in one folder).
    """
    try:
        fs, path = fsspec.core.url_to_fs(folder)
        if not fs.isdir(path):
            return {}
        entries = sorted(str(entry) for entry in fs.ls(path, detail=False))
    except (OSError, ValueError):
        return {}
    found: dict[str, str] = {}
    for entry in entries:
        match = BAND_FILE.match(entry.rstrip("/").rsplit("/", 1)[-1])
        if match is None:
            continue
        pol = match.group("pol").upper()
        if pol in found:
            raise GeocolorError(
                f"{folder}: holds two {pol} files ({found[pol].rsplit('/', 1)[-1]} and"
                f" {match.group(0)}); give the files with --{pol.lower()}"
            )
        found[pol] = f"{folder.rstrip('/')}/{match.group(0)}"
    return found
