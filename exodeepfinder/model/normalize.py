"""Per-frame intensity normalisation of movies before segmentation."""

from __future__ import annotations

import numpy as np


def _exact_float64(flat: np.ndarray) -> np.ndarray:
    """Frames ``[t, pixels]`` as float64 without losing their contrast.

    64-bit integers beyond 2^53 have no exact float64 (near 2^62, neighbouring floats are 1024
    apart): they are taken relative to their frame's minimum first, an exact integer difference
    (computed modulo 2^64, as the range of a frame is below 2^64).
    """
    low = flat.min(axis=1, keepdims=True)
    if flat.dtype.kind == "i":
        return (flat.view(np.uint64) - low.view(np.uint64)).astype(np.float64)
    return (flat - low).astype(np.float64)


def normalize_frames(frames, *, no_contrast: list | None = None) -> np.ndarray:
    """Scale each frame independently so that its 1st percentile is 0 and its 99th is 1.

    Parameters
    ----------
    frames : array-like, shape (t, y, x) or (y, x)
        Raw camera counts (any numeric dtype). 64-bit integers keep their precision (each frame
        is taken relative to its minimum, exactly, before the float arithmetic).
    no_contrast : list, optional
        The index (in ``frames``) of each frame without contrast is appended to it.

    Returns
    -------
    ndarray of float32, same shape
        Normalised frames. A frame whose 1st and 99th percentiles are equal has no contrast to
        scale and becomes all zeros: a constant frame, but also one whose pixels are 99 % one
        value (a sparse frame, a mostly dark camera region), whose few other pixels are lost.
        Callers report these frames (see :func:`~exodeepfinder.inference.iter_segment`).
    """
    frames = np.asarray(frames)
    single = frames.ndim == 2
    if single:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"frames: expected a [t, y, x] array, got shape {frames.shape}")
    flat = frames.reshape(len(frames), -1)
    if flat.dtype.kind in "iu" and flat.dtype.itemsize == 8 and flat.size:
        flat = _exact_float64(flat)
    low, high = np.percentile(flat, (1, 99), axis=1)
    span = high - low
    flat_contrast = span <= 0
    if no_contrast is not None:
        no_contrast.extend(int(i) for i in np.flatnonzero(flat_contrast))
    scale = np.where(flat_contrast, 0.0, 1.0 / np.where(flat_contrast, 1.0, span))
    out = (flat.astype(np.float64) - low[:, None]) * scale[:, None]
    out = out.astype(np.float32).reshape(frames.shape)
    return out[0] if single else out
