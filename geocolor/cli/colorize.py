"""``geocolor colorize``: a Sentinel-1 scene and a model to a colour COG."""

from __future__ import annotations

import click

from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.config import load_config
from geocolor.io.outputs import check_output
from geocolor.progress import progress_bar


@click.command("colorize")
@click.argument("scene")
@click.option(
    "--model", "model_uri", required=True, help="models:/NAME@ALIAS, runs:/... or a path."
)
@click.option("-o", "--output", required=True, help="Output COG (path or URL).")
@click.option("--aoi", default=None, help="minx,miny,maxx,maxy (lon/lat), or a GeoJSON/WKT file.")
@click.option("--config", "config_path", default=None, help="Pipeline YAML (colorize.yaml).")
@click.option("--tile-size", type=int, default=None, help="Inference tile side, pixels (512).")
@click.option("--overlap", type=int, default=None, help="Tile overlap (the receptive field).")
@click.option("--batch-size", type=int, default=None, help="Tiles per forward pass (4).")
@click.option(
    "--norm",
    type=click.Choice(["scene", "frozen", "tile"]),
    default=None,
    help="Norm statistics: pooled over the scene, learnt in training, or per tile (scene).",
)
@click.option("--crs", default=None, help="Output CRS instead of the scene's.")
@click.option("--resolution", type=float, default=None, help="Output metres per pixel.")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N (auto).")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "int8"]),
    default=None,
    help="Inference precision; auto keeps the fastest within tolerance of fp32 (fp32).",
)
@click.option("--scheduler", default=None, help="Dask scheduler computing the scene.")
@click.option(
    "--fail-on-drift",
    is_flag=True,
    default=None,
    help="Exit 1 without writing when the scene is unlike the model's training input.",
)
def colorize_command(
    scene: str,
    model_uri: str,
    output: str,
    aoi: str | None,
    config_path: str | None,
    scheduler: str | None,
    **options: object,
) -> None:
    """Colorize SCENE (GRD SAFE or zip, sigma0 dB GeoTIFF, or a reader plugin's) into a COG.

    The model's own Sentinel-1 processing and normalisation are applied; tiles overlap
    and are blended seam-free; the output is an RGB COG with an internal mask, on the
    scene's grid clipped to the AOI. Prints the output's path, and the drift verdict
    (how the scene compares with the model's training input) on stderr.
    """
    config = load_config(ColorizeConfig, config_path, options)
    check_output(output, [scene, model_uri, aoi, config_path], "file")
    with progress_bar(None, desc="colorizing", unit="tile") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = colorize(
            scene,
            model_uri,
            output,
            aoi=aoi,
            config=config,
            scheduler=scheduler,
            progress=advance,
        )
    drift = result.drift.summary() if result.drift else "unknown (the model has no reference)"
    click.echo(f"drift: {drift}", err=True)
    click.echo(output)
