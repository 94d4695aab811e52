"""The stages of a training: patch size, batch size, random shift, epochs and steps of each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Stage:
    """One training stage: cubic patches of ``patch_size``, ``n_epochs`` epochs of ``n_steps`` batches."""

    patch_size: int
    batch_size: int
    random_shift: int
    n_epochs: int
    n_steps: int


def expand_stages(patch_sizes, batch_sizes, random_shifts, n_epochs, n_steps) -> list[Stage]:
    """Build the stages from per-stage lists (or single values); shorter lists repeat their last value.

    >>> [s.patch_size for s in expand_stages([8, 16], 32, [4], 10, 100)]
    [8, 16]
    >>> expand_stages([8, 16], [256, 128], 4, 10, 100)[1].batch_size
    128
    """
    lists = {
        "patch_sizes": patch_sizes, "batch_sizes": batch_sizes, "random_shifts": random_shifts,
        "n_epochs": n_epochs, "n_steps": n_steps,
    }
    lists = {name: [int(v) for v in np.atleast_1d(values)] for name, values in lists.items()}
    for name, values in lists.items():
        if not values:
            raise ValueError(f"{name}: give at least one value")
    n_stages = max(len(values) for values in lists.values())

    def value(name, i):
        values = lists[name]
        return values[min(i, len(values) - 1)]

    stages = []
    for i in range(n_stages):
        stage = Stage(value("patch_sizes", i), value("batch_sizes", i), value("random_shifts", i),
                      value("n_epochs", i), value("n_steps", i))
        if stage.patch_size < 4 or stage.patch_size % 4:
            raise ValueError(f"patch_sizes: {stage.patch_size} is not a multiple of 4 (the network halves "
                             "y and x twice)")
        for name, number, low in (("batch_sizes", stage.batch_size, 1), ("random_shifts", stage.random_shift, 0),
                                  ("n_epochs", stage.n_epochs, 1), ("n_steps", stage.n_steps, 1)):
            if number < low:
                raise ValueError(f"{name}: must be at least {low}, got {number}")
        stages.append(stage)
    return stages
