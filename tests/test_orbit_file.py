"""Precise and restituted orbit files: parsing, selection around a product, validation."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path

import numpy as np
import pytest
import rasterio

from geocolor.cli import main
from geocolor.demo.landcover import SceneLayout
from geocolor.demo.orbit_file import VECTOR_SECONDS, write_orbit_file
from geocolor.demo.s1 import write_synthetic_s1
from geocolor.errors import GeocolorError
from geocolor.s1.orbit_file import ORBIT_MARGIN_SECONDS, orbit_for_product, read_orbit_file
from geocolor.s1.safe import open_safe

LAYOUT = SceneLayout(lines=120, samples=96)


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_s1(tmp_path_factory.mktemp("s1"), layout=LAYOUT, polarisations=("VV",))


def test_a_poeorb_file_gives_the_orbit_of_its_pass(tmp_path: Path) -> None:
    path = write_orbit_file(tmp_path, LAYOUT)
    assert path.name.startswith("S1A_OPER_AUX_POEORB_OPOD_") and path.suffix == ".EOF"
    orbit = read_orbit_file(path)
    assert orbit.mission == "S1A" and orbit.source == f"POEORB {path.stem}"
    assert orbit.times.dtype == np.dtype("datetime64[ns]")
    assert orbit.positions.shape == orbit.velocities.shape == (orbit.times.size, 3)
    assert (np.diff(orbit.times) == np.timedelta64(10, "s")).all()
    start = np.datetime64(LAYOUT.start_time, "ns")
    seconds = (orbit.times - start) / np.timedelta64(1, "s")
    positions, velocities = LAYOUT.orbit_state(seconds)
    np.testing.assert_allclose(orbit.positions, positions, atol=1e-5)
    np.testing.assert_allclose(orbit.velocities, velocities, atol=1e-5)
    radius = np.linalg.norm(orbit.positions, axis=1)
    assert (radius > 7.0e6).all() and (np.linalg.norm(orbit.velocities, axis=1) > 7.0e3).all()


def test_the_vectors_around_the_product_are_kept(product: Path, tmp_path: Path) -> None:
    info = open_safe(product).info
    path = write_orbit_file(tmp_path, LAYOUT, kind="RESORB")
    orbit = orbit_for_product(path, info.mission, info.start_time, info.stop_time)
    assert orbit.source.startswith("RESORB S1A_OPER_AUX_RESORB_OPOD_")
    margin = np.timedelta64(int(ORBIT_MARGIN_SECONDS), "s")
    start = np.datetime64(info.start_time.astimezone(UTC).replace(tzinfo=None), "ns")
    stop = np.datetime64(info.stop_time.astimezone(UTC).replace(tzinfo=None), "ns")
    # bracketed: one vector at or before start - margin, one at or after stop + margin
    assert orbit.times[0] <= start - margin < orbit.times[1]
    assert orbit.times[-2] < stop + margin <= orbit.times[-1]
    span = (stop - start + 2 * margin) / np.timedelta64(1, "s")
    assert orbit.times.size <= span / VECTOR_SECONDS + 3


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mission": "S1B"}, "orbit file for S1B, but the product is from S1A"),
        ({"shift": timedelta(hours=2)}, "not the product's"),
        ({"shift": timedelta(minutes=9, seconds=30)}, "with 60 s margin"),
    ],
)
def test_an_orbit_file_for_another_satellite_or_time_is_refused(
    product: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    info = open_safe(product).info
    path = write_orbit_file(tmp_path, LAYOUT, **options)  # type: ignore[arg-type]
    with pytest.raises(GeocolorError, match=message):
        orbit_for_product(path, info.mission, info.start_time, info.stop_time)


def test_a_file_that_is_not_an_orbit_file_is_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.EOF"
    other.write_text(
        "<Earth_Explorer_File><Earth_Explorer_Header><Fixed_Header>"
        "<File_Type>AUX_PREORB</File_Type></Fixed_Header></Earth_Explorer_Header>"
        "</Earth_Explorer_File>"
    )
    with pytest.raises(GeocolorError, match="not a POEORB or RESORB orbit file"):
        read_orbit_file(other)
    (tmp_path / "manifest.xml").write_text("<root/>")
    with pytest.raises(GeocolorError, match="not an Earth Explorer orbit file"):
        read_orbit_file(tmp_path / "manifest.xml")
    with pytest.raises(GeocolorError, match="orbit file not found"):
        read_orbit_file(tmp_path / "missing.EOF")
    # a vector twice would make a zero-length interpolation interval
    text = write_orbit_file(tmp_path, LAYOUT).read_text()
    first = text[text.index("<OSV>") : text.index("</OSV>") + len("</OSV>")]
    repeated = tmp_path / "repeated.EOF"
    repeated.write_text(text.replace(first, first + first, 1))
    with pytest.raises(GeocolorError, match="repeats a state-vector time"):
        read_orbit_file(repeated)


def test_a_namespaced_file_reads_alike(tmp_path: Path) -> None:
    path = write_orbit_file(tmp_path, LAYOUT)
    text = path.read_text().replace(
        "<Earth_Explorer_File ", '<Earth_Explorer_File xmlns="http://eop-cfi.esa.int/CFI" ', 1
    )
    namespaced = tmp_path / "namespaced.EOF"
    namespaced.write_text(text)
    plain, spaced = read_orbit_file(path), read_orbit_file(namespaced)
    np.testing.assert_array_equal(plain.times, spaced.times)
    np.testing.assert_array_equal(plain.positions, spaced.positions)


def test_process_s1_records_the_orbit_file(
    product: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eof = write_orbit_file(tmp_path / "orbits", LAYOUT)
    out = tmp_path / "out.tif"
    args = ["--quiet", "process-s1", str(product), "--grid", "radar", "--speckle", "none"]
    assert main([*args, "-o", str(out), "--orbit", str(eof)]) == 0
    with rasterio.open(out) as src:
        assert src.tags()["orbit_file"] == f"POEORB {eof.stem}"
        assert src.tags()["orbit_source"] == "annotation"  # the vectors the geometry used

    wrong = write_orbit_file(tmp_path / "wrong", LAYOUT, mission="S1C")
    refused = tmp_path / "refused.tif"
    capsys.readouterr()
    assert main([*args, "-o", str(refused), "--orbit", str(wrong)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "orbit file for S1C" in err
    assert not refused.exists()
