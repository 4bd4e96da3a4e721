"""The work folder's size cap: least recently used uploads and results go first."""

from __future__ import annotations

import os
from pathlib import Path

from geocolor.app.workdir import evict, touch, tree_size


def _entry(root: Path, name: str, size: int, used: int) -> Path:
    folder = root / name
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "data.bin").write_bytes(bytes(size))
    os.utime(folder, ns=(used, used))
    return folder


def test_least_recently_used_entries_go_first(tmp_path: Path) -> None:
    uploads, results = tmp_path / "uploads", tmp_path / "results"
    old_upload = _entry(uploads, "a", 400, used=1_000)
    old_result = _entry(results, "b", 400, used=2_000)
    recent = _entry(results, "c", 400, used=3_000)
    (uploads / ".upload-in-flight").mkdir()  # being received: neither counted nor removed
    (uploads / ".upload-in-flight" / "part").write_bytes(bytes(10_000))
    assert tree_size(old_upload) == 400

    touch(old_upload)  # used just now: now the newest
    removed = evict([uploads, results, tmp_path / "missing"], cap_bytes=900)
    assert removed == [old_result]
    assert old_upload.exists() and recent.exists()
    assert (uploads / ".upload-in-flight" / "part").exists()
    assert evict([uploads, results], cap_bytes=800) == []


def test_a_running_jobs_folders_are_never_evicted(tmp_path: Path) -> None:
    held = _entry(tmp_path, "held", 500, used=1)
    other = _entry(tmp_path, "other", 500, used=2)
    assert evict([tmp_path], cap_bytes=100, keep={held}) == [other]
    assert held.exists()  # even though the folder stays over its cap
