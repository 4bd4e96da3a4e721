"""``geocolor demo-data``: synthetic, format-faithful products for demos and tests."""

from __future__ import annotations

import json
from pathlib import Path

import click
from shapely.affinity import scale
from shapely.geometry import box, mapping

from geocolor.demo.landcover import SceneLayout
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.io.outputs import check_output
from geocolor.s1.source import open_s1

# A small scene the demo processes in seconds, and ESA's full IW GRDH size.
DEMO_SIZE = (1200, 1600)
FULL_SIZE = (16704, 26100)


def write_demo_pair(
    output: str, *, full_size: bool = False, seed: int = 0, as_zip: bool = False
) -> tuple[str, str]:
    """A Sentinel-1 GRD and a Sentinel-2 L2A product over the same synthetic land cover.

    The Sentinel-2 tile covers the Sentinel-1 scene (a full 10 980 px tile for
    ``full_size``); both products sample one land-cover map, so every class has a
    backscatter signature and a colour.
    """
    lines, samples = FULL_SIZE if full_size else DEMO_SIZE
    layout = SceneLayout(lines=lines, samples=samples)
    s1 = write_synthetic_s1(output, layout=layout, seed=seed, zip=as_zip)
    s2 = write_synthetic_s2(
        output,
        layout=layout,
        seed=seed,
        zip=as_zip,
        size=10980 if full_size else None,
        jp2=not full_size,
    )
    return str(s1), str(s2)


def write_demo_aoi(s1: str, output: str, fraction: float = 0.5) -> str:
    """A GeoJSON box over the middle of the scene (``fraction`` of its extent each way).

    The demo colorizes this area of interest, as a user would one on a real scene.
    """
    bounds = open_s1(s1).footprint().bounds
    area = scale(box(*bounds), xfact=fraction, yfact=fraction)
    path = Path(output) / "aoi.geojson"
    path.write_text(json.dumps({"type": "Feature", "properties": {}, "geometry": mapping(area)}))
    return str(path)


@click.command("demo-data")
@click.option("-o", "--output", required=True, help="Folder to write the products into.")
@click.option("--zip", "as_zip", is_flag=True, help="Write each SAFE as a .zip, as ESA ships it.")
@click.option("--full-size", is_flag=True, help="Full IW GRDH frame and a 10980 px S2 tile.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo_data_command(output: str, as_zip: bool, full_size: bool, seed: int) -> None:
    """Write a synthetic Sentinel-1 GRD (VV+VH) and Sentinel-2 L2A pair and an AOI over them.

    Prints the products' paths, then the AOI's (``aoi.geojson``, the middle of the scene).
    """
    check_output(output, [], "folder")
    s1, s2 = write_demo_pair(output, full_size=full_size, seed=seed, as_zip=as_zip)
    for path in (s1, s2, write_demo_aoi(s1, output)):
        click.echo(path)
