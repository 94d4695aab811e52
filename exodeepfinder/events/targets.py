"""Label maps from event lists: the reference event mask (a 3-frame cone) painted at each event."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Disk radius painted at frames t, t+1, t+2 of an event (t+2 is the single centre pixel).
CONE_RADII = (4, 2, 0)


def _disk_offsets(radius: int) -> np.ndarray:
    span = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    inside = dy ** 2 + dx ** 2 <= radius ** 2
    return np.stack([dy[inside], dx[inside]], axis=1)


def events_to_labels(events, shape, label=None, *, radii=CONE_RADII) -> np.ndarray:
    """Paint the reference event mask of every event into a new label map.

    For an event at ``(t, y, x)`` (rounded to the nearest integer), frame ``t`` gets a disk of
    radius 4, frame ``t + 1`` a disk of radius 2 and frame ``t + 2`` the single pixel ``(y, x)``
    (disks are ``dy**2 + dx**2 <= r**2``); voxels outside the movie are clipped away.
    Where masks overlap the larger label wins (events, 2, over bright spots, 1).

    Parameters
    ----------
    events : DataFrame
        Events table with columns ``t, y, x`` and ``class_label`` (unless ``label`` is given).
    shape : (int, int, int)
        Shape ``(t, y, x)`` of the label map (the movie's shape).
    label : int, optional
        Value painted for every event; by default each event's ``class_label``.
    radii : sequence of int
        Disk radius for frames ``t, t+1, ...``.

    Returns
    -------
    ndarray of int8, shape ``shape``
        0 = background, otherwise the event's label.

    Examples
    --------
    >>> from exodeepfinder.io.events import make_events
    >>> labels = events_to_labels(make_events([0], [5], [5]), (3, 10, 10))
    >>> [int(frame.sum()) for frame in labels]
    [49, 13, 1]
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3:
        raise ValueError(f"shape: expected (t, y, x), got {shape}")
    if min(shape) < 0:
        raise ValueError(f"shape: expected sizes >= 0, got {shape}")
    needed = ["t", "y", "x"] + (["class_label"] if label is None else [])
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise ValueError(f"events: missing column(s) {', '.join(missing)}")
    labels = np.zeros(shape, np.int8)
    if len(events) == 0:
        return labels
    coordinates = events[["t", "y", "x"]].to_numpy(float)
    if not np.isfinite(coordinates).all():
        row = int(np.flatnonzero(~np.isfinite(coordinates).all(axis=1))[0])
        raise ValueError(f"events: event {row + 1} has a missing or infinite coordinate")
    centres = np.round(coordinates).astype(np.int64)
    if label is None:
        raw = pd.to_numeric(events["class_label"], errors="coerce").to_numpy(float)
        if not np.isfinite(raw).all() or (raw != np.round(raw)).any():
            row = int(np.flatnonzero(~np.isfinite(raw) | (raw != np.round(raw)))[0])
            raise ValueError(f"events: event {row + 1} has class_label {events['class_label'].iloc[row]!r}, "
                             "expected a whole number")
        values = raw.astype(np.int64)
    else:
        values = np.full(len(events), int(label), np.int64)
    if values.min() < -128 or values.max() > 127:
        raise ValueError("label: values must fit in int8")
    for age, radius in enumerate(radii):
        offsets = _disk_offsets(int(radius))
        t = np.repeat(centres[:, 0] + age, len(offsets))
        y = (centres[:, 1, None] + offsets[None, :, 0]).ravel()
        x = (centres[:, 2, None] + offsets[None, :, 1]).ravel()
        value = np.repeat(values, len(offsets))
        inside = (t >= 0) & (t < shape[0]) & (y >= 0) & (y < shape[1]) & (x >= 0) & (x < shape[2])
        t, y, x, value = t[inside], y[inside], x[inside], value[inside]
        flat = np.ravel_multi_index((t, y, x), shape)
        # np.maximum.at makes overlapping masks keep the largest label regardless of order
        np.maximum.at(labels.reshape(-1), flat, value.astype(np.int8))
    return labels
