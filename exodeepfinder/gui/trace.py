"""The intensity trace of one event, ΔF/F0 over frames, as :func:`~exodeepfinder.events.measure.measure_events` defines it.

The trace is the mean intensity in a disk around the event minus the median of a surrounding
annulus (the local background), frame by frame. Its baseline is the ``baseline_frames`` frames
before the peak (the brightest frame within ``search_frames`` of the event's frame): F0 is the
mean raw disk intensity there, and ΔF the background-subtracted trace minus its mean there.
So ``max(ΔF/F0)`` near the event is the event's ``peak_dff`` measurement.

(This belongs beside ``measure_events``, which could then draw its numbers from it.)
"""

from __future__ import annotations

import numpy as np


def event_trace(movie, t: float, y: float, x: float, *, before: int = 15, after: int = 40, disk_radius: float = 3,
                annulus=(5, 8), baseline_frames: int = 5, search_frames: int = 3, offset: float = 0.0):
    """ΔF/F0 of the event at ``(t, y, x)`` from ``before`` frames before it to ``after`` frames after it.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Only a small box around the event is read.
    t, y, x : float
        The event (frame, row, column).
    before, after : int
        Frames shown before and after the event's frame.
    disk_radius, annulus, baseline_frames, search_frames, offset
        As in :func:`~exodeepfinder.events.measure.measure_events`.

    Returns
    -------
    frames : ndarray of int
    dff : ndarray of float
        ΔF/F0 at each frame (NaN everywhere when F0 is not positive or the event lies at the
        first frame).
    """
    n_frames, height, width = movie.shape
    tc, yc, xc = int(round(t)), int(round(y)), int(round(x))
    half = int(np.ceil(annulus[1]))
    t0 = max(min(tc - before, tc - search_frames - baseline_frames), 0)
    t1 = min(tc + after + 1, n_frames)
    y0, y1 = max(yc - half, 0), min(yc + half + 1, height)
    x0, x1 = max(xc - half, 0), min(xc + half + 1, width)
    crop = np.asarray(movie[t0:t1, y0:y1, x0:x1], float) - offset
    distance2 = (np.arange(y0, y1)[:, None] - y) ** 2 + (np.arange(x0, x1)[None, :] - x) ** 2
    disk = distance2 <= disk_radius ** 2
    if not disk.any():
        disk = distance2 == distance2.min()
    ring = (distance2 > annulus[0] ** 2) & (distance2 <= annulus[1] ** 2)
    raw = crop[:, disk].mean(1)
    background = np.median(crop[:, ring], axis=1) if ring.sum() >= 3 else np.zeros(len(crop))
    signal = raw - background
    lo, hi = max(tc - search_frames, 0) - t0, min(tc + search_frames + 1, n_frames) - t0
    peak = lo + int(np.argmax(signal[lo:hi]))
    baseline = slice(max(peak - baseline_frames, 0), peak)
    frames = np.arange(t0, t1)
    f0 = raw[baseline].mean() if peak > baseline.start else np.nan
    if not f0 > 0:
        return frames, np.full(len(frames), np.nan)
    dff = (signal - signal[baseline].mean()) / f0
    keep = frames >= tc - before
    return frames[keep], dff[keep]
