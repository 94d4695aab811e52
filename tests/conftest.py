"""Shared fixtures: the network's weights and strict NumPy arithmetic.

Weights:

- ``official_weights``: the official ExoDeepFinder ``net_weights_FINAL.h5``, for the tests that
  check something of that file itself. Found in ``$EXODEEPFINDER_OFFICIAL_WEIGHTS``, else where
  ``exodeepfinder download-weights`` puts it (the user cache), else in the team's copy beside
  the repository; the test is skipped when none is there.
- ``network_weights``: the official weights when found, else the bundled default model; for
  the tests of the network's numbers that hold for any ExoDeepFinder weights, so that a clean
  clone runs them.
"""

import os
from pathlib import Path

import numpy as np
import pytest

from exodeepfinder.model.weights import BUNDLED_WEIGHTS, official_weights_path

REPO = Path(__file__).resolve().parents[1]
#: Environment variable naming the official weights file for the tests.
ENV_OFFICIAL_WEIGHTS = "EXODEEPFINDER_OFFICIAL_WEIGHTS"
# where the team keeps its copy; the only place the tests know of outside the repository
_TEAM_COPY = REPO.parent / "shared" / "data" / "net_weights_FINAL.h5"


def find_official_weights():
    """The official weights file for the tests, or None (see the module's description)."""
    if os.environ.get(ENV_OFFICIAL_WEIGHTS):
        return Path(os.environ[ENV_OFFICIAL_WEIGHTS]).expanduser()
    for candidate in (official_weights_path(), _TEAM_COPY):
        if candidate.is_file():
            return candidate
    return None


@pytest.fixture(autouse=True)
def _strict_numpy():
    # Fail on silent NaN/overflow arithmetic, as trackpy does.
    with np.errstate(divide="raise", over="raise", invalid="raise"):
        yield


@pytest.fixture(scope="session")
def official_weights():
    path = find_official_weights()
    if path is None:
        pytest.skip(f"official weights not found (set {ENV_OFFICIAL_WEIGHTS}, or run exodeepfinder download-weights)")
    if not path.is_file():
        pytest.fail(f"{ENV_OFFICIAL_WEIGHTS}={path}: file not found")
    return path


@pytest.fixture(scope="session")
def network_weights():
    path = find_official_weights()
    if path is not None and path.is_file():
        return path
    assert BUNDLED_WEIGHTS.is_file(), f"bundled default model missing: {BUNDLED_WEIGHTS}"
    return BUNDLED_WEIGHTS
