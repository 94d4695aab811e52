"""What the lazy ``[t, y, x]`` sources of every format share: index keys and read errors."""

from __future__ import annotations

import numpy as np


def split_time_key(key, n_frames: int):
    """``(frame indices, single frame?, rest of the key)`` of an index ``key`` into a ``[t, ...]`` array."""
    if not isinstance(key, tuple):
        key = (key,)
    if not key:
        return np.arange(n_frames), False, ()
    time_key, rest = key[0], key[1:]
    if time_key is Ellipsis:
        return np.arange(n_frames), False, (Ellipsis,) + rest
    if isinstance(time_key, (int, np.integer)):
        return np.array([range(n_frames)[time_key]]), True, rest
    if isinstance(time_key, slice):
        return np.arange(n_frames)[time_key], False, rest
    indices = np.arange(n_frames)[np.asarray(time_key)]
    return np.atleast_1d(indices), False, rest


def _finish(block: np.ndarray, single: bool, rest) -> np.ndarray:
    if single:
        return block[0][rest] if rest else block[0]
    return block[(slice(None),) + tuple(rest)] if rest else block


def _reason(err: Exception) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
