"""Shared fixtures: the golden files NeMo 3.0.0 wrote (kept in `tests/legacy/nemo_3.0.0/`)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(os.environ.get("NEMO_GOLDEN_DIR", REPO / "tests" / "legacy" / "nemo_3.0.0"))


@pytest.fixture
def golden() -> Path:
    if not GOLDEN.is_dir():
        pytest.fail(f"golden files not found at {GOLDEN} (set NEMO_GOLDEN_DIR)")
    return GOLDEN
