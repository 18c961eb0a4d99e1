"""Shared fixtures: the golden files NeMo 3.0.0 wrote, and a clean temp working directory."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(os.environ.get("NEMO_GOLDEN_DIR", REPO.parent / "shared" / "golden"))


@pytest.fixture
def golden() -> Path:
    if not GOLDEN.is_dir():
        pytest.fail(f"golden files not found at {GOLDEN} (set NEMO_GOLDEN_DIR)")
    return GOLDEN
