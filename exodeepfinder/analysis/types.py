"""Event types: where the vesicle came from and how its cargo was released.

The rules (written in docs/report.md):

- **origin**: ``docked`` when a vesicle is visible at the event's site before its rise: the
  mean, over the ``docked_frames`` frames before the frame preceding the rise, of the disk mean
  minus the local background (median of the annulus) stands at least ``docked_snr`` times its
  noise (the pixel noise, from the annulus, over the square root of the disk's pixels times the
  frames), and the spot there is centred within 1 px of the event (its centroid within 3 px; a spot
  further off is a neighbour's, e.g. another vesicle at a hotspot: ``docked_snr`` is then 0);
  ``arrived`` otherwise (no vesicle before: it came and fused at once,
  IVEA's "latent" fusions). Confidence: ``|z - docked_snr| / docked_snr`` clipped to 0-1, ``z``
  being that signal-to-noise ratio.
- **release**: ``spreading`` when the fluorescence cloud widens after the peak (full fusion: the
  cargo diffuses away): the width of the cloud in the mean of the ``spread_frames`` frames after
  the peak (background removed: the annulus median of each frame) exceeds its width at the peak
  by a factor of at least ``spread_ratio``; ``in_place`` when it decays without widening
  (kiss-and-run-like). The width is fit-free: sqrt(total within 4.5 px / mean within 1.5 px),
  proportional to the sigma of a Gaussian spot. Confidence: ``|ratio - spread_ratio| /
  (spread_ratio - 1)`` clipped to 0-1. ``unknown`` when the cloud is gone after the peak (no
  positive signal) or the event lies at the movie's edge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..events.measure import _disk_mean_noise, _FrameBlocks, _local_trace
from ..progress import report

#: Values of the ``origin`` column.
ORIGINS = ("docked", "arrived")
#: Values of the ``release`` column.
RELEASES = ("spreading", "in_place", "unknown")
#: Columns added by :func:`classify_events`.
TYPE_COLUMNS = ["origin", "origin_confidence", "docked_snr", "release", "release_confidence", "spread_ratio"]


def _frame_of(row, name, fallback):
    value = row.get(name, np.nan)
    return int(value) if value is not None and np.isfinite(value) else int(round(fallback))


def _origin(movie, t_rise, y, x, *, docked_frames, disk_radius, annulus, offset, max_offset=1.0):
    """Signal-to-noise ratio of a vesicle at the site before the rise (0 when the spot there is off-site)."""
    n_frames = movie.shape[0]
    t0, t1 = max(t_rise - 1 - docked_frames, 0), max(t_rise - 1, 0)
    if t1 - t0 < 1:
        return np.nan
    yc, xc = int(round(y)), int(round(x))
    _, signal, crop, (y0, x0), (disk, ring), has_ring = _local_trace(
        movie, t_rise, yc, xc, y, x, t0, min(t1, n_frames), int(np.ceil(annulus[1])), disk_radius, annulus, offset)
    if not has_ring:
        return np.nan
    noise = _disk_mean_noise(crop, disk, ring, slice(0, len(signal))) / np.sqrt(len(signal))
    if not noise > 0:
        return np.nan
    snr = float(signal.mean() / noise)
    # the vesicle that fused sat where it fused: a spot whose centroid (within 3 px) lies more than
    # max_offset px away is a neighbour (at a hotspot, another event's vesicle), not this one's
    image = np.clip(crop.mean(axis=0) - np.median(crop[:, ring]), 0, None)
    rows, columns = np.arange(y0, y0 + crop.shape[1]), np.arange(x0, x0 + crop.shape[2])
    weights = np.where((rows[:, None] - y) ** 2 + (columns[None, :] - x) ** 2 <= 9, image, 0.0)
    if weights.sum() > 0:
        cy = weights.sum(axis=1) @ rows / weights.sum()
        cx = weights.sum(axis=0) @ columns / weights.sum()
        if np.hypot(cy - y, cx - x) > max_offset:
            return min(snr, 0.0)
    return snr


def _width2(image, distance2, inner, outer):
    """Squared width of a background-free spot: its total (within ``outer`` px) over its centre (within ``inner``).

    For a Gaussian of sigma s the ratio grows as s² (total 2 pi s² A, centre about A): a cheap,
    fit-free measure of how wide the cloud is.
    """
    centre = image[distance2 <= inner ** 2].mean()
    total = image[distance2 <= outer ** 2].sum()
    return total / centre if centre > 0 and total > 0 else np.nan


def _release(movie, t_peak, y, x, *, spread_frames, half_width, annulus, offset):
    n_frames = movie.shape[0]
    if t_peak + 1 >= n_frames:
        return np.nan
    yc, xc = int(round(y)), int(round(x))
    half = int(np.ceil(annulus[1]))
    t1 = min(t_peak + 1 + spread_frames, n_frames)
    _, _, crop, (y0, x0), (disk, ring), has_ring = _local_trace(movie, t_peak, yc, xc, y, x, t_peak, t1, half,
                                                                 1.0, annulus, offset)
    if not has_ring:
        return np.nan
    crop = crop - np.median(crop[:, ring], axis=1)[:, None, None]
    rows, columns = np.arange(y0, y0 + crop.shape[1]), np.arange(x0, x0 + crop.shape[2])
    distance2 = (rows[:, None] - y) ** 2 + (columns[None, :] - x) ** 2
    peak = _width2(crop[0], distance2, 1.5, half_width)
    late = _width2(crop[1:].mean(axis=0), distance2, 1.5, half_width)
    return float(np.sqrt(late / peak)) if peak > 0 and late > 0 else np.nan


def classify_events(movie, events: pd.DataFrame, *, docked_frames: int = 4, docked_snr: float = 3.0,
                    spread_frames: int = 3, spread_ratio: float = 1.10, disk_radius: float = 1.5,
                    annulus=(5, 8), offset: float = 0.0, progress=None) -> pd.DataFrame:
    """Give each event an origin (docked / arrived) and a release (spreading / in place), with confidences.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        The movie (NumPy array or lazy movie; frames are read in time order, about once each).
    events : DataFrame
        Events (``t, y, x``; ``rise_frame`` and ``peak_frame`` from
        :func:`~exodeepfinder.events.measure.measure_events` when present, else ``t`` is taken
        as both).
    docked_frames : int
        Frames before the rise in which a docked vesicle is looked for.
    docked_snr : float
        Signal-to-noise ratio of the vesicle above which the event is ``docked``.
    spread_frames : int
        Frames after the peak whose mean is compared with the peak frame.
    spread_ratio : float
        Growth of the fitted spot sigma above which the release is ``spreading``.
    disk_radius, annulus : float, (float, float)
        Disk (px) of the docked-vesicle signal and annulus (px) of the local background.
    offset : float
        Camera baseline (subtracting it does not change the differences measured here).
    progress : callable, optional
        ``progress(done, total)`` over events.

    Returns
    -------
    DataFrame
        A copy of ``events`` with :data:`TYPE_COLUMNS`: ``origin``, ``origin_confidence``
        (0-1), ``docked_snr`` (the measured ratio), ``release``, ``release_confidence`` (0-1),
        ``spread_ratio`` (sigma after the peak over sigma at the peak).
    """
    annulus = (float(annulus[0]), float(annulus[1]))
    if not isinstance(movie, np.ndarray):
        movie = _FrameBlocks(movie)
    n = len(events)
    snr, ratio = np.full(n, np.nan), np.full(n, np.nan)
    rows = events.to_dict("records")
    order = np.argsort(events["t"].to_numpy(float), kind="stable") if n else []
    for done, i in enumerate(order, start=1):
        row = rows[i]
        t_rise = _frame_of(row, "rise_frame", row["t"])
        t_peak = _frame_of(row, "peak_frame", row["t"])
        inside = 0 <= t_rise < movie.shape[0] and 0 <= row["y"] < movie.shape[1] and 0 <= row["x"] < movie.shape[2]
        if inside:
            snr[i] = _origin(movie, t_rise, row["y"], row["x"], docked_frames=int(docked_frames),
                             disk_radius=disk_radius, annulus=annulus, offset=offset)
            ratio[i] = _release(movie, t_peak, row["y"], row["x"], spread_frames=int(spread_frames), half_width=4.5,
                                annulus=annulus, offset=offset)
        report(progress, done, n)
    result = events.drop(columns=[c for c in TYPE_COLUMNS if c in events.columns]).copy()
    with np.errstate(invalid="ignore"):
        result["origin"] = np.where(snr >= docked_snr, ORIGINS[0], ORIGINS[1]).astype(object)
        result["origin_confidence"] = np.where(np.isfinite(snr), np.clip(np.abs(snr - docked_snr) / docked_snr, 0, 1),
                                               0.0)
        result["docked_snr"] = snr
        release = np.where(ratio >= spread_ratio, RELEASES[0], RELEASES[1]).astype(object)
        release[~np.isfinite(ratio)] = RELEASES[2]
        result["release"] = release
        result["release_confidence"] = np.where(
            np.isfinite(ratio), np.clip(np.abs(ratio - spread_ratio) / (spread_ratio - 1), 0, 1), 0.0)
        result["spread_ratio"] = ratio
    return result
