"""Split a batch of movie folders between the tasks of a scheduler job array, without Dask."""

from __future__ import annotations

import os

from ..errors import InputError


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)``: shard K (counted from 0) of N.

    >>> parse_shard("2/8")
    (2, 8)
    """
    index, sep, count = str(text).partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise InputError(f"shard {text!r}: expected K/N, e.g. 0/4 (shard K of N, counted from 0)") from None
    if not sep or count < 1 or not 0 <= index < count:
        raise InputError(f"shard {text!r}: expected K/N with 0 <= K < N")
    return index, count


def shard_from_environment(environ=None) -> tuple[int, int] | None:
    """The shard of this task of a SLURM job array, or None outside a job array.

    SLURM numbers the tasks from ``SLURM_ARRAY_TASK_MIN`` (``--array=1-8`` numbers them 1 to 8),
    so the shard is ``SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN`` of ``SLURM_ARRAY_TASK_COUNT``.
    """
    environ = os.environ if environ is None else environ
    task, count = environ.get("SLURM_ARRAY_TASK_ID"), environ.get("SLURM_ARRAY_TASK_COUNT")
    if task is None or count is None:
        return None
    try:
        index, count = int(task) - int(environ.get("SLURM_ARRAY_TASK_MIN", 0)), int(count)
    except ValueError:
        raise InputError(f"SLURM_ARRAY_TASK_ID={task!r}, SLURM_ARRAY_TASK_COUNT={count!r}: "
                         "not whole numbers") from None
    if not 0 <= index < count:
        raise InputError(f"SLURM_ARRAY_TASK_ID={task}: not one of the {count} tasks of the array "
                         "(task ids must be consecutive, e.g. --array=0-7)")
    return index, count


def select_shard(folders, index: int, count: int) -> list:
    """The folders of shard ``index`` of ``count``: folder i (in sorted order) goes to shard i mod count."""
    return [folder for i, folder in enumerate(sorted(folders)) if i % count == index]
