"""Shared fixtures: the official weights and small simulated movies."""

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
OFFICIAL_WEIGHTS = REPO.parent / "shared" / "data" / "net_weights_FINAL.h5"


@pytest.fixture(autouse=True)
def _strict_numpy():
    # Fail on silent NaN/overflow arithmetic, as trackpy does.
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        yield


@pytest.fixture(scope="session")
def official_weights():
    if not OFFICIAL_WEIGHTS.is_file():
        pytest.skip(f"official weights not found at {OFFICIAL_WEIGHTS}")
    return OFFICIAL_WEIGHTS
