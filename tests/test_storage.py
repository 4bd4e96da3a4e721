from __future__ import annotations

from pathlib import Path

import fsspec
import pytest

from geocolor.io.filesystems import atomic_write


def test_atomic_write_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "state.bin"
    with pytest.raises(RuntimeError), atomic_write(str(target)) as stream:
        stream.write(b"half")
        raise RuntimeError("killed mid-write")
    assert not target.exists() and not list(target.parent.iterdir())
    with atomic_write(str(target)) as stream:
        stream.write(b"whole")
    assert target.read_bytes() == b"whole"
    assert [p.name for p in target.parent.iterdir()] == ["state.bin"]


def test_atomic_write_reaches_fsspec_urls() -> None:
    with atomic_write("memory://atomic/state.bin") as stream:
        stream.write(b"remote")
    with fsspec.open("memory://atomic/state.bin", "rb") as handle:
        assert handle.read() == b"remote"
