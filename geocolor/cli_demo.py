"""``geocolor demo-data``: synthetic, format-faithful products for demos and tests."""

from __future__ import annotations

import click

from geocolor.synthetic_s1 import write_synthetic_s1

# A small scene that the demo processes in seconds, and ESA's full IW GRDH size.
DEMO_SIZE = (1200, 1600)
FULL_SIZE = (16704, 26100)


@click.command("demo-data")
@click.option("-o", "--output", required=True, help="Folder to write the products into.")
@click.option("--zip", "as_zip", is_flag=True, help="Write the SAFE as a .zip, as ESA ships it.")
@click.option("--full-size", is_flag=True, help="Full IW GRDH size (16704 x 26100).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
def demo_data_command(output: str, as_zip: bool, full_size: bool, seed: int) -> None:
    """Write a synthetic Sentinel-1 IW GRD product (VV+VH) and print its path."""
    lines, samples = FULL_SIZE if full_size else DEMO_SIZE
    path = write_synthetic_s1(output, lines=lines, samples=samples, seed=seed, zip=as_zip)
    click.echo(str(path))
