"""``geocolor process-s1``: one GRD product to an analysis-ready backscatter COG."""

from __future__ import annotations

import click
import dask.array as da
import zarr

from geocolor.config import load_config
from geocolor.io.cluster import dask_client
from geocolor.io.cog import write_cog
from geocolor.io.outputs import check_output
from geocolor.io.scratch import scratch_folder
from geocolor.prepare.store import hold
from geocolor.s1.backscatter import S1Config, backscatter
from geocolor.s1.orbit_file import orbit_for_product
from geocolor.s1.safe import open_safe
from geocolor.s1.terrain_flattening import MASK_DESCRIPTION, MASK_ENCODING


def split_list(value: str | None) -> tuple[str, ...] | None:
    """``"VV,VH"`` -> ``("VV", "VH")``; None stays None (not given)."""
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


@click.command("process-s1")
@click.argument("safe")
@click.option("-o", "--output", required=True, help="Output COG (path or URL).")
@click.option("--config", "config_path", help="Pipeline YAML with process-s1 keys.")
@click.option(
    "--measure",
    type=click.Choice(["sigma0", "beta0", "gamma0", "gamma0-rtc"]),
    default=None,
    help="gamma0-rtc: gamma0 flattened by the DEM's illuminated area (Small 2011; needs --dem).",
)
@click.option("--denoise/--no-denoise", default=None, help="Thermal noise removal (on).")
@click.option(
    "--border-noise/--no-border-noise",
    default=None,
    help="Mask GRD border noise of products before IPF 2.90 (on).",
)
@click.option(
    "--orbit",
    "orbit_file",
    default=None,
    help="POEORB or RESORB orbit file (.EOF) checked against the product: terrain "
    "correction (--dem) uses its state vectors instead of the annotation's.",
)
@click.option("--speckle", default=None, help="Speckle filter name, or 'none' (lee).")
@click.option("--window", type=int, default=None, help="Speckle filter window (7).")
@click.option("--looks", type=float, default=None, help="Equivalent number of looks (4.4).")
@click.option("--db/--linear", default=None, help="Output in dB (default) or linear power.")
@click.option("--grid", default=None, help="radar, utm (default) or a reference raster.")
@click.option("--resolution", type=float, default=None, help="Metres per pixel (10).")
@click.option("--crs", default=None, help="Output CRS instead of the scene's UTM zone.")
@click.option("--pol", "polarisations", default=None, help="Polarisations, e.g. VV,VH.")
@click.option(
    "--dem",
    default=None,
    help="DEM for range-Doppler terrain correction: a raster path or URL (geoid heights "
    "converted), or 'copernicus' for cached Copernicus DEM GLO-30 tiles over the scene.",
)
@click.option(
    "--layover-shadow-mask/--no-layover-shadow-mask",
    default=None,
    help="Add a last band flagging layover (1) and shadow (2) from the DEM (needs --dem).",
)
@click.option("--chunk", type=int, default=None, help="Dask chunk size in pixels (2048).")
@click.option("--scheduler", default=None, help="Address of an existing Dask scheduler.")
def process_s1_command(
    safe: str,
    output: str,
    config_path: str | None,
    scheduler: str | None,
    polarisations: str | None,
    orbit_file: str | None,
    **options: object,
) -> None:
    """Calibrate, denoise, speckle-filter and georeference a Sentinel-1 GRD product.

    SAFE is a .SAFE folder or its .zip, local or a URL. Writes a float32 COG with one
    band per polarisation (and the layover/shadow codes last, when asked for) and NaN
    as nodata, then prints its path.
    """
    config = load_config(
        S1Config, config_path, {**options, "polarisations": split_list(polarisations)}
    )
    check_output(output, [safe, config_path, config.grid, orbit_file], "file")
    product = open_safe(safe)
    info = product.info
    orbit = (
        None
        if orbit_file is None
        else orbit_for_product(orbit_file, info.mission, info.start_time, info.stop_time)
    )
    with (
        dask_client(scheduler) as client,
        scratch_folder(output) as scratch,
    ):
        # a local cluster holds the radar image in a local scratch store before warping;
        # workers of a remote cluster cannot see it, so there the graph stays whole
        local = client.cluster is not None
        group = zarr.open_group(scratch, mode="w") if local else None
        result = backscatter(
            product,
            config,
            hold=None if group is None else (lambda image: hold(image, group, "radar", client)),
            orbit=orbit,
        )
        image, descriptions = result.image, result.descriptions
        if result.mask is not None:
            image = da.concatenate([image, result.mask])
            descriptions = (*descriptions, f"{MASK_DESCRIPTION} ({MASK_ENCODING})")
        write_cog(
            image,
            output,
            result.georef,
            nodata=float("nan"),
            descriptions=descriptions,
            tags=result.tags,
            client=client,
        )
    click.echo(output)
