"""``geocolor colorize``: Sentinel-1 scenes and a model to colour COGs."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import click

from geocolor.colorize.batch import SceneOutcome, SceneProgress, colorize_scenes
from geocolor.colorize.pipeline import ColorizeConfig, colorize
from geocolor.config import load_config
from geocolor.errors import GeocolorError, UsageError
from geocolor.io.outputs import check_output
from geocolor.progress import progress_bar


@click.command("colorize")
@click.argument("scenes", metavar="SCENE...", nargs=-1)
@click.option(
    "--model", "model_uri", required=True, help="models:/NAME@ALIAS, runs:/... or a path."
)
@click.option(
    "-o", "--output", required=True, help="Output COG, or folder DIR/ for several scenes."
)
@click.option(
    "--vv",
    "vv",
    default=None,
    metavar="FILE",
    help="Single-band VV file (instead of SCENE; with --vh...).",
)
@click.option("--vh", "vh", default=None, metavar="FILE", help="Single-band VH file.")
@click.option("--hh", "hh", default=None, metavar="FILE", help="Single-band HH file.")
@click.option("--hv", "hv", default=None, metavar="FILE", help="Single-band HV file.")
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
@click.option(
    "--scheduler", default=None, help="Dask scheduler computing the scene (or the scenes)."
)
@click.option("--redo", is_flag=True, help="Into a folder: colorize finished scenes again.")
@click.option(
    "--fail-on-drift",
    is_flag=True,
    default=None,
    help="Exit 1 without writing when the scene is unlike the model's training input.",
)
def colorize_command(
    scenes: tuple[str, ...],
    model_uri: str,
    output: str,
    aoi: str | None,
    config_path: str | None,
    scheduler: str | None,
    redo: bool,
    vv: str | None,
    vh: str | None,
    hh: str | None,
    hv: str | None,
    **options: object,
) -> None:
    """Colorize SCENE (GRD SAFE or zip, sigma0 dB GeoTIFF, or a reader plugin's) into a COG.

    SCENE may also be a folder of single-band files named by polarisation
    (``<name>_VV.tif``, ``<name>_VH.tif``: a BigEarthNet patch), or the files may be
    given instead of SCENE with --vv FILE --vh FILE. Bands without descriptions (a
    public dataset's own files) are read in the model's measure and unit (sigma0 dB...),
    polarisations in the model's order; ambiguous ones are refused.

    The model's own Sentinel-1 processing and normalisation are applied; tiles overlap
    and are blended seam-free; the output is an RGB COG with an internal mask, on the
    scene's grid clipped to the AOI. Prints the output's path, and the drift verdict
    (how the scene compares with the model's training input) on stderr.

    Several scenes, or -o DIR/, write DIR/NAME.tif per scene, one Dask task per scene
    on the cluster (--scheduler; a local one otherwise), each worker loading the model
    once. Finished scenes are skipped (--redo to colorize them again); a failed scene
    is reported on one line, the others finish, and the exit code is then 1.
    """
    config = load_config(ColorizeConfig, config_path, options)
    band_files = {
        pol: path for pol, path in (("VV", vv), ("VH", vh), ("HH", hh), ("HV", hv)) if path
    }
    if band_files and scenes:
        raise UsageError("give SCENE or its band files (--vv FILE --vh FILE), not both")
    if not band_files and not scenes:
        raise UsageError("missing SCENE (or its band files: --vv FILE --vh FILE)")
    if band_files:
        _colorize_one(
            band_files,
            list(band_files.values()),
            model_uri,
            output,
            aoi,
            config_path,
            config,
            scheduler,
        )
        return
    if len(scenes) > 1 and output.lower().endswith((".tif", ".tiff")):
        raise UsageError(f"-o {output}: {len(scenes)} scenes need an output folder (DIR/)")
    if len(scenes) > 1 or output.endswith("/"):
        _colorize_into_folder(scenes, model_uri, output, aoi, config, scheduler, redo)
        return
    _colorize_one(scenes[0], [scenes[0]], model_uri, output, aoi, config_path, config, scheduler)


def _colorize_one(
    scene: str | dict[str, str],
    inputs: list[str],
    model_uri: str,
    output: str,
    aoi: str | None,
    config_path: str | None,
    config: ColorizeConfig,
    scheduler: str | None,
) -> None:
    """One scene (a path, or polarisation -> band file) into the COG ``output``."""
    check_output(output, [*inputs, model_uri, aoi, config_path], "file")
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


def _colorize_into_folder(
    scenes: tuple[str, ...],
    model_uri: str,
    folder: str,
    aoi: str | None,
    config: ColorizeConfig,
    scheduler: str | None,
    redo: bool,
) -> None:
    """The scenes into ``folder``: a bar of scenes, one of tiles per running scene."""
    with ExitStack() as stack:
        overall = stack.enter_context(progress_bar(len(scenes), desc="scenes", unit="scene"))
        running: dict[str, tuple[ExitStack, Any]] = {}

        def advance(step: SceneProgress) -> None:
            if step.scene not in running:
                own = ExitStack()
                bar = own.enter_context(progress_bar(step.total, desc=step.scene, unit="tile"))
                running[step.scene] = (own, bar)
            bar = running[step.scene][1]
            bar.update(step.done - bar.n)

        def report(outcome: SceneOutcome) -> None:
            if outcome.scene in running:
                running.pop(outcome.scene)[0].close()
            overall.update(1)
            click.echo(outcome.line(), err=True)
            if outcome.status == "colorized":
                click.echo(outcome.output)

        outcomes = colorize_scenes(
            scenes,
            model_uri,
            folder,
            aoi=aoi,
            config=config,
            scheduler=scheduler,
            redo=redo,
            progress=advance,
            finished=report,
        )
        for own, _ in running.values():
            own.close()
    failed = sum(outcome.status == "failed" for outcome in outcomes)
    if failed:
        raise GeocolorError(f"{failed} of {len(scenes)} scenes failed")
