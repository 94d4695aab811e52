"""Seed ranges: which movies may be used for what.

- **test** seeds (900000 and up): held out; the figures we report come from these only;
- **calibration** seeds (800000-899999): for fitting anything to this simulator (a score
  calibration, a threshold); never reported as test figures;
- seeds below 800000 are free for development and tests.

A movie is fixed by its family, seed, shape and number of events (``simulate``).
"""

from __future__ import annotations

TEST_SEEDS = range(900000, 1000000)
CALIBRATION_SEEDS = range(800000, 900000)
_RANGES = {"test": TEST_SEEDS, "calibration": CALIBRATION_SEEDS}


def seeds_of(seed_range: str, n: int, first: int = 0) -> list[int]:
    """The ``n`` seeds of a named range from its ``first``-th on (ValueError past its end)."""
    try:
        seeds = _RANGES[seed_range]
    except KeyError:
        raise ValueError(f"seed range '{seed_range}': expected one of {', '.join(_RANGES)}") from None
    if first < 0 or first + n > len(seeds):
        raise ValueError(f"seed range '{seed_range}' holds {len(seeds)} seeds; asked for {first}..{first + n - 1}")
    return list(seeds[first:first + n])
