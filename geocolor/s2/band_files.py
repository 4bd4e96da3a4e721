"""Reading a folder (or list) of plain GeoTIFF/COG band files, as download services deliver.

GDAL VRTs count as band files too: a STAC Item's remote band COGs are opened as VRTs
carrying the Item's scaling in their metadata.

There is no metadata file, so everything comes from the files themselves: the band from
its name (``B02.tif``, ``B8A_20m.tif``, ``T29UNU_20221005T115411_B04_10m.tiff``,
``SCL.tif``), the resolution from its pixel size, the tile and sensing time from names
that carry them, and the scaling from the dtype and the metadata tags (see
:mod:`geocolor.s2.product` for the rule).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from types import MappingProxyType

import numpy as np

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Grid
from geocolor.s2.archive import Raster
from geocolor.s2.parts import SCL, TILE_IN_NAME, BandFile, ProductParts, S2Info

__all__ = ["read_band_files"]

# a band token as a separate word of the file name
_PLAIN_IMAGE = re.compile(r"(?:^|[_.\-])(B0[1-9]|B1[0-2]|B8A|SCL)(?:[_.\-]|$)", re.IGNORECASE)
_PLAIN_SUFFIXES = (".tif", ".tiff", ".vrt")
_TIME_IN_NAME = re.compile(r"(?:^|_)(\d{8}T\d{6})(?:_|$)")
# the pre-04.00 convention most services deliver
_DEFAULT_QUANTIFICATION = 10000.0


def read_band_files(rasters: Sequence[Raster], label: str) -> ProductParts:
    """The parts of a product made of ``rasters``; files that name no band are skipped.

    ``label`` names the folder or list in errors and becomes the product id.
    """
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
    files: dict[tuple[str, int], BandFile] = {}
    grids: dict[int, Grid] = {}
    for band, raster in bands:
        band_file, grid = _band_file(raster)
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
    tile_id = _first_match(TILE_IN_NAME, names)
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
    return ProductParts(info, files, grids, None)


def _first_match(pattern: re.Pattern[str], names: Iterable[str]) -> str | None:
    """First group of the first name ``pattern`` finds something in."""
    matches = (pattern.search(name) for name in names)
    return next((match.group(1) for match in matches if match), None)


def _band_file(raster: Raster) -> tuple[BandFile, Grid]:
    """Scaling of a plain band file from its dtype and tags, and its grid."""
    with raster.open() as dataset:
        if dataset.crs is None:
            raise GeocolorError(f"{raster.path}: band file has no CRS")
        grid = Grid(dataset.crs, dataset.transform, dataset.width, dataset.height)
        if np.issubdtype(np.dtype(dataset.dtypes[0]), np.floating):
            nodata = dataset.nodata
            return BandFile(raster, 0.0, 1.0, None if nodata is None else float(nodata)), grid
        tags = {**dataset.tags(), **dataset.tags(1)}
    try:
        offset = float(tags.get("BOA_ADD_OFFSET", 0.0))
        quantification = float(tags.get("BOA_QUANTIFICATION_VALUE", _DEFAULT_QUANTIFICATION))
    except ValueError:
        raise GeocolorError(f"{raster.path}: non-numeric BOA_* tag") from None
    return BandFile(raster, offset, quantification, 0.0), grid
