"""Shared fixtures: the real-data folder named by ADAS_DATA_DIR (see docs/architecture.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder ADAS_DATA_DIR names (in CI ``../shared/data``).

    Skips the test with the reason when the variable is unset or the folder is missing; with
    ADAS_REQUIRE_DATA=1 (set by ``.ci/run``) that is a failure instead, so CI cannot go green
    by silently skipping every data test.
    """
    raw = os.environ.get("ADAS_DATA_DIR", "")
    path = Path(raw)
    if raw and path.is_dir():
        return path
    reason = f"ADAS_DATA_DIR={raw!r} is not a directory" if raw else "ADAS_DATA_DIR is not set"
    if os.environ.get("ADAS_REQUIRE_DATA") == "1":
        pytest.fail(f"{reason}, but ADAS_REQUIRE_DATA=1 requires the real data", pytrace=False)
    pytest.skip(f"{reason}; point it at the shared data folder (../shared/data) to run this test")
