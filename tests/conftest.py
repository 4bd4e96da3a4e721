"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real Sentinel samples beside the checkout; skip when a user has none."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SHARED_DATA} is missing in CI")
        pytest.skip(f"real Sentinel samples not found at {SHARED_DATA}")
    return SHARED_DATA
