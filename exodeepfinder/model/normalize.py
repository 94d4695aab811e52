"""Per-frame intensity normalisation of movies before segmentation."""

from __future__ import annotations

import numpy as np


def normalize_frames(frames) -> np.ndarray:
    """Scale each frame independently so that its 1st percentile is 0 and its 99th is 1.

    Parameters
    ----------
    frames : array-like, shape (t, y, x) or (y, x)
        Raw camera counts (any numeric dtype).

    Returns
    -------
    ndarray of float32, same shape
        Normalised frames. A frame whose 1st and 99th percentiles are equal (e.g. a constant
        frame) becomes all zeros, since it has no contrast to scale.
    """
    frames = np.asarray(frames)
    single = frames.ndim == 2
    if single:
        frames = frames[None]
    if frames.ndim != 3:
        raise ValueError(f"frames: expected a [t, y, x] array, got shape {frames.shape}")
    flat = frames.reshape(len(frames), -1)
    low, high = np.percentile(flat, (1, 99), axis=1)
    span = high - low
    flat_contrast = span <= 0
    scale = np.where(flat_contrast, 0.0, 1.0 / np.where(flat_contrast, 1.0, span))
    out = (flat.astype(np.float64) - low[:, None]) * scale[:, None]
    out = out.astype(np.float32).reshape(frames.shape)
    return out[0] if single else out
