"""A damaged measurement raster stops the run with one line naming the file.

A DEFLATE block whose stream was damaged where GDAL does not look (its tail) used to
read as plausible pixels; a file cut mid-way used to print a Dask worker traceback
even with ``-q``, then "internal error".
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from geocolor.cli import main
from geocolor.demo.s2 import write_synthetic_s2
from geocolor.demo.safe_writer import zip_safe
from geocolor.errors import GeocolorError
from geocolor.io.cluster import dask_client
from geocolor.s2.product import open_s2
from tests.bad_products import (
    LAYOUT,
    copy_of,
    measurement,
    member,
    pristine,
    truncate,
    zero_block_tail,
)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pristine(tmp_path_factory.mktemp("s1"))


def run_quiet(safe: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """``geocolor -q process-s1`` in a child process, so every log line is seen."""
    return subprocess.run(
        [sys.executable, "-m", "geocolor.cli", "-q", "process-s1", str(safe), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pristine_product_passes_the_block_check(product: Path, tmp_path: Path) -> None:
    assert main(["-q", "process-s1", str(product), "-o", str(tmp_path / "out.tif")]) == 0


@pytest.mark.parametrize("zipped", [False, True], ids=["folder", "zip"])
def test_corrupt_deflate_block_names_file_and_block(
    product: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], zipped: bool
) -> None:
    safe = copy_of(product, tmp_path / "in")
    zero_block_tail(measurement(safe), row=1, col=2)
    if zipped:
        bundle = tmp_path / f"{safe.stem}.zip"
        zip_safe(safe, bundle)
        with zipfile.ZipFile(bundle) as archive:  # rasters are stored, read in place
            assert all(
                info.compress_type == zipfile.ZIP_STORED
                for info in archive.infolist()
                if info.filename.endswith(".tiff")
            )
        safe = bundle
    output = tmp_path / "out.tif"

    code = main(["-q", "process-s1", str(safe), "-o", str(output)])

    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert measurement(product).name in err
    assert "corrupt DEFLATE block at block row 1, column 2" in err
    assert not output.exists()


def test_truncated_measurement_is_one_line_even_quiet(product: Path, tmp_path: Path) -> None:
    safe = copy_of(product, tmp_path)
    truncate(measurement(safe))
    output = tmp_path / "out.tif"

    done = run_quiet(safe, output)

    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("geocolor: error: ") and measurement(safe).name in lines[0]
    assert "internal error" not in lines[0] and "Traceback" not in done.stderr
    assert "unreadable raster" in lines[0] and "See previous exception" not in lines[0]
    assert not output.exists()


def test_s2_read_error_reaches_the_client_whole(tmp_path: Path) -> None:
    """A GDAL error inside a Dask task arrives as the GeocolorError it became, unchained."""
    safe = write_synthetic_s2(tmp_path, layout=LAYOUT, seed=1)
    band = member(safe, "GRANULE/*/IMG_DATA/R10m/*_B02_10m.*")
    reflectance = open_s2(safe).read_reflectance(("B02",), chunks=64)
    truncate(band, 0.6)

    with dask_client(threads=1) as client, pytest.raises(GeocolorError) as failed:
        client.compute(reflectance.data).result()

    message = str(failed.value)
    assert band.name in message and "cannot read pixels" in message and "\n" not in message
    assert failed.value.__cause__ is None and failed.value.__context__ is None
