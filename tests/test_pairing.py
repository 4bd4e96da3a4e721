from __future__ import annotations

from pathlib import Path

import pytest

from geocolor.errors import UsageError
from geocolor.prepare.pairing import expand_inputs


def test_paths_globs_and_listing_files(tmp_path: Path) -> None:
    for name in ("S1A_a.zip", "S1A_b.zip", "S1B_c.SAFE"):
        (tmp_path / name).touch()
    listing = tmp_path / "scenes.txt"
    listing.write_text(f"# my scenes\n{tmp_path / 'S1B_c.SAFE'}\n\ngs://bucket/S1A_d.zip\n")
    found = expand_inputs([str(tmp_path / "S1A_*.zip"), str(listing), "memory://x.zip"], "S1")
    assert found == [
        str(tmp_path / "S1A_a.zip"),
        str(tmp_path / "S1A_b.zip"),
        str(tmp_path / "S1B_c.SAFE"),
        "gs://bucket/S1A_d.zip",
        "memory://x.zip",
    ]


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no S2 product matches"):
        expand_inputs([str(tmp_path / "S2*.SAFE")], "S2")
    with pytest.raises(UsageError, match="cannot read the S2 listing file"):
        expand_inputs([str(tmp_path / "missing.txt")], "S2")
    with pytest.raises(UsageError, match="no S2 products given"):
        expand_inputs([], "S2")
