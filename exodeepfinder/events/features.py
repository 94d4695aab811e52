"""What the candidate classifier sees of each detected event: one row of numbers per event.

A model folder made by ``exodeepfinder adapt`` re-scores the U-Net's candidates with a small
classifier trained on the user's corrections (:mod:`~exodeepfinder.events.classify`). Its inputs,
per candidate event, come from three places:

- the clustering and the score: ``cluster_size``, ``probability`` (mean event probability of the
  cluster), ``score`` (:mod:`~exodeepfinder.events.score`);
- the event measurements of :func:`~exodeepfinder.events.measure.measure_events`: rise over the
  noise, ΔF/F0, decay, duration, spot size...;
- the network's probabilities around the event (:func:`add_network_features`: the largest and
  mean event probability and the mean bright-spot probability in a small box) and the local
  trace (:func:`add_trace_features`: ΔF/F0 a few frames before and after the event, relative to
  its peak: a fusion rises in one frame and fades, a docked vesicle or a blink does not).

Candidates are found at a lower event probability than the default detection
(:func:`candidate_labels`) so that the classifier can bring back events the network hesitated on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns :func:`add_network_features` adds.
NETWORK_COLUMNS = ["p_event_max", "p_event_mean", "p_spot_mean"]
#: Trace offsets (frames from the event's frame) of :func:`add_trace_features`, and its columns.
TRACE_OFFSETS = (-3, -1, 1, 2, 4, 8)
TRACE_COLUMNS = [f"trace_{'m' if k < 0 else 'p'}{abs(k)}" for k in TRACE_OFFSETS]
#: Half size (frames, pixels, pixels) of the box of :func:`add_network_features`.
NETWORK_BOX = (1, 2, 2)
#: Scale-dependent features, compared as ``sign(v) log(1 + |v|)``.
_LOG_FEATURES = {"cluster_size", "peak_snr", "peak_dff", "decay_tau", "duration"}
#: Every feature of :func:`feature_table`, in order.
FEATURE_COLUMNS = ["probability", "score", "cluster_size", "peak_dff", "peak_snr", "decay_ratio", "decay_tau",
                   "decay_r2", "duration", "spot_sigma", "peak_offset", *NETWORK_COLUMNS, *TRACE_COLUMNS]


class CandidateLabels:
    """A label map whose event voxels are those of event probability ``>= threshold``, read by blocks.

    Stands in for the segmentation's labels in :func:`~exodeepfinder.events.cluster.cluster_events`
    (which reads ``labels[start:stop]`` blocks of frames): voxels the network gives an event
    probability of at least ``threshold`` are events (2), the others keep their label.

    Parameters
    ----------
    labels : array-like of int8, shape (t, y, x)
    scores : array-like, shape (t, 3, y, x)
        The class probabilities (in memory or an HDF5 dataset).
    threshold : float
    """

    def __init__(self, labels, scores, threshold: float):
        self.labels, self.scores, self.threshold = labels, scores, float(threshold)
        self.shape, self.ndim, self.dtype = tuple(labels.shape), 3, np.dtype(np.int8)

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("CandidateLabels: read by slices of frames")
        block = np.array(self.labels[key], np.int8)
        block[np.asarray(self.scores[key, 2], np.float32) >= self.threshold] = 2
        return block


def candidate_labels(labels, scores, threshold: float) -> CandidateLabels:
    """The label map of :class:`CandidateLabels` (event voxels: event probability >= ``threshold``)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"candidate threshold: must be in (0, 1], got {threshold}")
    return CandidateLabels(labels, scores, threshold)


def add_network_features(events: pd.DataFrame, scores) -> pd.DataFrame:
    """Add the network's probabilities around each event (:data:`NETWORK_COLUMNS`).

    Parameters
    ----------
    events : DataFrame
        Columns ``t, y, x``.
    scores : array-like, shape (t, 3, y, x)
        Class probabilities (background, bright spot, event), in memory or an HDF5 dataset.

    Returns
    -------
    DataFrame
        A copy with ``p_event_max`` and ``p_event_mean`` (largest and mean event probability in a
        box of :data:`NETWORK_BOX` around the event) and ``p_spot_mean`` (mean bright-spot probability).
    """
    n_frames, _, height, width = scores.shape
    rows = np.full((len(events), len(NETWORK_COLUMNS)), np.nan)
    ht, hy, hx = NETWORK_BOX
    for i, (t, y, x) in enumerate(np.round(events[["t", "y", "x"]].to_numpy(float)).astype(int)):
        t0, t1 = max(t - ht, 0), min(t + ht + 1, n_frames)
        y0, y1 = max(y - hy, 0), min(y + hy + 1, height)
        x0, x1 = max(x - hx, 0), min(x + hx + 1, width)
        if t0 >= t1 or y0 >= y1 or x0 >= x1:
            continue
        box = np.asarray(scores[t0:t1, :, y0:y1, x0:x1], np.float32)
        rows[i] = box[:, 2].max(), box[:, 2].mean(), box[:, 1].mean()
    result = events.copy()
    for column, values in zip(NETWORK_COLUMNS, rows.T):
        result[column] = values
    return result


def add_trace_features(movie, events: pd.DataFrame, *, offset: float = 0.0) -> pd.DataFrame:
    """Add the shape of each event's local trace (:data:`TRACE_COLUMNS`).

    ``trace_m3`` is ΔF/F0 three frames before the event's peak, ``trace_p2`` two frames after it...,
    each divided by ΔF/F0 at the peak (:func:`~exodeepfinder.events.measure.event_trace`), and
    clipped to [-3, 3]. NaN where the trace cannot be measured (movie edge, no baseline).
    """
    from .measure import event_trace

    rows = np.full((len(events), len(TRACE_OFFSETS)), np.nan)
    before, after = -min(TRACE_OFFSETS) + 3, max(TRACE_OFFSETS) + 3
    for i, (t, y, x) in enumerate(events[["t", "y", "x"]].to_numpy(float)):
        frames, dff = event_trace(movie, t, y, x, before=before, after=after, offset=offset)
        if not np.isfinite(dff).any():
            continue
        near = (np.abs(frames - round(t)) <= 3) & np.isfinite(dff)
        if not near.any():
            continue
        peak_index = int(np.argmax(np.where(near, dff, -np.inf)))
        peak = dff[peak_index]
        if not peak > 0:
            continue
        for j, k in enumerate(TRACE_OFFSETS):
            if 0 <= peak_index + k < len(dff) and np.isfinite(dff[peak_index + k]):
                rows[i, j] = np.clip(dff[peak_index + k] / peak, -3, 3)
    result = events.copy()
    for column, values in zip(TRACE_COLUMNS, rows.T):
        result[column] = values
    return result


def feature_table(events: pd.DataFrame) -> pd.DataFrame:
    """The classifier's inputs (:data:`FEATURE_COLUMNS`) from a detected, measured and described events table.

    ``events`` needs the columns of :func:`~exodeepfinder.pipeline.detect` and those of
    :func:`add_network_features` and :func:`add_trace_features`. Scale-dependent features are
    log-compressed; ``peak_offset`` is ``peak_frame - t``. Missing values stay NaN (the classifier
    fills them).

    Returns
    -------
    DataFrame of float, one row per event, columns :data:`FEATURE_COLUMNS`.
    """
    table = pd.DataFrame(index=events.index)
    for name in FEATURE_COLUMNS:
        if name == "peak_offset":
            values = events["peak_frame"].to_numpy(float) - events["t"].to_numpy(float) \
                if "peak_frame" in events.columns else np.full(len(events), np.nan)
        elif name in events.columns:
            values = pd.to_numeric(events[name], errors="coerce").to_numpy(float)
        else:
            raise ValueError(f"events: missing column {name!r} (detect, measure and describe the events first)")
        if name in _LOG_FEATURES:
            values = np.sign(values) * np.log1p(np.abs(values))
        table[name] = np.where(np.isfinite(values), values, np.nan)
    return table


def cluster_candidates(labels, scores, candidate_threshold: float, **cluster_options) -> pd.DataFrame:
    """Candidate events: the clusters of voxels of event probability >= ``candidate_threshold``, with network features.

    ``cluster_options`` go to :func:`~exodeepfinder.events.cluster.cluster_events` (``cluster_radius``,
    ``min_size``, ``progress``); the events get :func:`add_network_features`' columns.
    """
    from .cluster import cluster_events

    events = cluster_events(candidate_labels(labels, scores, candidate_threshold), scores=scores, **cluster_options)
    return add_network_features(events, scores)
