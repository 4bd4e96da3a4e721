"""Streaming a lazy (band, y, x) array into a Cloud-Optimised GeoTIFF.

Blocks are computed on the Dask cluster and written, as they finish, into a tiled
GeoTIFF in a scratch folder beside the output (:mod:`geocolor.io.scratch`); GDAL's COG
driver then adds overviews and lays the file out. The finished file is moved to its
destination (local path or fsspec URL) in one step, so a failed run leaves nothing at
the destination.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import dask.array as da
import fsspec
import numpy as np
import rasterio
import rasterio.shutil
from distributed import Client, as_completed
from rasterio.windows import Window

from geocolor.errors import GeocolorError
from geocolor.geo.grid import Georeference
from geocolor.io.cluster import dask_client
from geocolor.io.filesystems import is_remote
from geocolor.io.scratch import scratch_folder
from geocolor.progress import progress_bar

# the staging file is written once and read once: tiled like the COG, compressed for speed
_STAGING_PROFILE: dict[str, Any] = {
    "driver": "GTiff",
    "tiled": True,
    "blockxsize": 512,
    "blockysize": 512,
    "compress": "ZSTD",
    "zstd_level": 1,
    "num_threads": "ALL_CPUS",
    "bigtiff": "IF_SAFER",
}


#: GDAL's block cache (MiB) while a COG is written and laid out. GDAL's default, 5 % of
#: the machine's memory, would let peak memory grow with the machine, not the chunks.
CACHE_MB = 256


def write_cog(
    image: da.Array,
    path: str,
    georef: Georeference,
    *,
    nodata: float | None = None,
    descriptions: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    client: Client | None = None,
    compress: str = "DEFLATE",
    overview_resampling: str = "AVERAGE",
) -> None:
    """Compute ``image`` block by block and write it as a COG at ``path``.

    Parameters
    ----------
    image
        (band, rows, cols) lazy array; its chunks are the unit of work.
    path
        Destination, local or any fsspec URL.
    georef
        CRS and transform, or GCPs for radar geometry.
    nodata
        Nodata value written in the header (NaN for float backscatter).
    descriptions
        One description per band (e.g. "VV sigma0 dB").
    tags
        Dataset tags (model, inputs, parameters, versions).
    client
        Dask client; a local cluster is started when None.
    """
    if image.ndim != 3:
        raise ValueError("image must be (band, rows, cols)")
    bands, height, width = image.shape
    profile: dict[str, Any] = {
        "width": width,
        "height": height,
        "count": bands,
        "dtype": image.dtype.name,
        "crs": georef.crs,
        "transform": georef.transform,
        # GCPs given when the file is created, so GDAL never sees it ungeoreferenced
        "gcps": list(georef.gcps) if georef.transform is None else None,
    }
    if nodata is not None:
        profile["nodata"] = nodata
    with cog_staging(path, profile, compress, overview_resampling) as dst:
        for index, text in enumerate(descriptions, start=1):
            dst.set_band_description(index, text)
        if tags:
            dst.update_tags(**tags)
        _write_blocks(image, dst, client)


@contextmanager
def cog_staging(
    path: str,
    profile: Mapping[str, Any],
    compress: str,
    overview_resampling: str,
    gdal_env: Mapping[str, Any] | None = None,
) -> Iterator[Any]:
    """A tiled GeoTIFF to fill, laid out as a COG and published at ``path`` at the end.

    Writers fill the staging file in any order (blocks as they finish, strips as they
    are blended); only a block that ends without an error produces the COG, and the
    destination never holds a partial file.

    Parameters
    ----------
    path
        Destination, local or any fsspec URL.
    profile
        Size, bands, dtype and georeferencing of the file (rasterio's ``open`` keywords);
        tiling and the fast staging compression are added here.
    compress, overview_resampling
        The COG's compression and how its overviews are computed.
    gdal_env
        GDAL configuration while the staging file is written (e.g. an internal mask).
    """
    env = {"GDAL_CACHEMAX": CACHE_MB, **(gdal_env or {})}
    with scratch_folder(path) as workdir, rasterio.Env(**env):
        staging = workdir / "staging.tif"
        with rasterio.open(staging, "w", **{**_STAGING_PROFILE, **profile}) as dst:
            yield dst
        final = workdir / "final.tif"
        to_cog(staging, final, compress, overview_resampling)
        publish(final, path)


def _write_blocks(image: da.Array, dst: Any, client: Client | None) -> None:
    def write(block: np.ndarray, row0: int, col0: int) -> None:
        dst.write(block, window=Window(col0, row0, block.shape[2], block.shape[1]))

    stream_blocks(image, client, write)


def stream_blocks(
    image: da.Array,
    client: Client | None,
    consume: Callable[[np.ndarray, int, int], None],
    desc: str = "writing",
) -> None:
    """Compute a (band, rows, cols) image on the cluster and hand each block to ``consume``.

    Blocks come back to this process as they finish, so ``consume`` may write to local
    files that a remote cluster's workers cannot see; dropping each future frees its
    memory at once.

    Parameters
    ----------
    image
        Lazy image; its chunks (all bands together) are the blocks.
    client
        Dask client; a local cluster is started when None.
    consume
        Called with each block and its top-left (row, col) in the image.
    desc
        Progress bar label.
    """
    # dask's Array.rechunk and to_delayed, distributed's Client.compute and as_completed
    # are unannotated
    image = image.rechunk({0: -1})
    offsets = [
        (row0, col0)
        for row0 in np.cumsum((0, *image.chunks[1][:-1]))
        for col0 in np.cumsum((0, *image.chunks[2][:-1]))
    ]
    context = nullcontext(client) if client is not None else dask_client()
    with context as active:
        futures = active.compute(list(image.to_delayed().ravel()))
        where = {future.key: offset for future, offset in zip(futures, offsets, strict=True)}
        finished = as_completed(futures, with_results=True)
        del futures
        with progress_bar(len(where), desc=desc, unit="block") as bar:
            for future, block in finished:
                row0, col0 = where[future.key]
                consume(block, int(row0), int(col0))
                future.release()
                bar.update(1)


def to_cog(source: Path, target: Path, compress: str, resampling: str) -> None:
    """Lay a tiled GeoTIFF out as a COG with overviews (its internal mask comes along)."""
    options = {
        "driver": "COG",
        "COMPRESS": compress,
        "BLOCKSIZE": 512,
        "OVERVIEWS": "IGNORE_EXISTING",
        "OVERVIEW_RESAMPLING": resampling,
        "NUM_THREADS": "ALL_CPUS",
        "BIGTIFF": "IF_SAFER",
    }
    if compress in {"DEFLATE", "ZSTD", "LZW"}:
        options["PREDICTOR"] = "YES"
    rasterio.shutil.copy(source, target, **options)


def publish(local: Path, path: str) -> None:
    """Move a finished file to ``path`` so that it appears whole.

    A local file is renamed into place (its scratch folder lies beside ``path``, on the
    same disk); a remote one is uploaded under a temporary name first, removed again if
    the upload fails or is interrupted.
    """
    fs, target = fsspec.core.url_to_fs(path)
    if not is_remote(path):
        try:
            local.replace(target)
        except OSError as exc:
            raise GeocolorError(f"{path}: cannot write output ({exc})") from None
        return
    partial = f"{target}.partial"
    try:
        fs.put_file(str(local), partial)
        fs.mv(partial, target)
    except BaseException as exc:
        if fs.exists(partial):
            fs.rm(partial)
        if isinstance(exc, OSError):
            raise GeocolorError(f"{path}: cannot write output ({exc})") from None
        raise
