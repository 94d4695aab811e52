"""Merge a bright-spot detector's segmentation with an expert's event annotation into training targets.

The network learns three classes: background (0), bright spot (1) and exocytosis event (2). The
expert annotates only events; a spot detector (Atlas or the built-in one) finds every bright spot,
events included: the decaying spot that follows an event stays visible (and detected) for as long
as its fluorescence lasts, several frames past the 3-frame event mask.

What becomes of that tail (``event_tails``):

- ``"spot"`` (default): every detector voxel outside the expert event masks is a bright spot,
  tails included. The same decaying spot is labelled the same way in every frame, and only the
  event mask is class 2.
- ``"reference"``: the reference ExoDeepFinder rule. Detector blobs (3D connected components)
  whose centroid lies within ``exclusion_radius`` of an event are erased. A short tail's blob
  has its centroid near the event and is erased (background), a long tail's blob does not and
  stays a spot, so the same kind of decaying spot is background after some events and a spot
  after others, and a vesicle docked a while before fusing loses its docked frames only when
  the docking was short.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from ..io.events import make_events

SPOT_LABEL = 1
EVENT_LABEL = 2
#: Choices of ``event_tails`` (see the module's description); the first is the default.
EVENT_TAILS = ("spot", "reference")

_FRAME_STRUCTURE = np.zeros((3, 3, 3), bool)
_FRAME_STRUCTURE[1] = ndi.generate_binary_structure(2, 1)


def _centroids(labels: np.ndarray, n: int) -> np.ndarray:
    """Centroids ``(t, y, x)`` of labels 1..n (bincount: one pass, no per-label loop)."""
    flat = labels.ravel()
    selected = np.flatnonzero(flat)
    ids = flat[selected]
    counts = np.bincount(ids, minlength=n + 1)[1:].astype(float)
    coords = np.unravel_index(selected, labels.shape)
    return np.stack([np.bincount(ids, weights=c, minlength=n + 1)[1:] / counts for c in coords], axis=1)


def _erase_blobs_near_events(detector: np.ndarray, events: np.ndarray, exclusion_radius: float) -> None:
    """The reference rule: erase (in place) the 3D blobs whose centroid is near an event."""
    blobs, n_blobs = ndi.label(detector)
    if n_blobs and len(events):
        centroids = _centroids(blobs, n_blobs)
        from scipy.spatial import cKDTree

        distance, _ = cKDTree(events).query(centroids, distance_upper_bound=float(exclusion_radius) + 1e-9)
        erase = np.zeros(n_blobs + 1, bool)
        erase[1:] = distance <= exclusion_radius
        detector &= ~erase[blobs]


def merge_detector_expert(detector_labels, expert_events: pd.DataFrame, expert_labels, *,
                          exclusion_radius: float = 5, max_spots: int | None = 9800, seed=0,
                          event_tails: str = "spot"):
    """Build the training segmentation and annotation of one movie.

    Parameters
    ----------
    detector_labels : array-like, shape (t, y, x)
        Detector segmentation; non-zero = bright spot.
    expert_events : DataFrame
        Expert annotation (columns ``t, y, x``; every row is an event).
    expert_labels : array-like, shape (t, y, x)
        Expert segmentation (non-zero = event), e.g. from ``generate_segmentation``.
    exclusion_radius : float
        With ``event_tails="reference"``: detector blobs (3D connected components, face
        connectivity) whose centroid lies within this distance (px, Euclidean in ``(t, y, x)``,
        frames counted as pixels) of an expert event are erased.
    max_spots : int or None
        At most this many spots become class-1 objects of the annotation, drawn at random
        (all of them if None). The segmentation keeps every remaining spot.
    seed : int or None
        Seed of that random draw (the same seed gives the same annotation).
    event_tails : {"spot", "reference"}
        ``"spot"``: detector voxels outside the expert masks are all bright spots, the
        decaying spot after an event included (consistent labels). ``"reference"``: the
        reference's erasure of blobs near events (see the module's description).

    Returns
    -------
    merged_labels : ndarray of int8, shape (t, y, x)
        0 background, 1 bright spot, 2 expert event (the expert segmentation's voxels).
    merged_events : DataFrame
        ``t, y, x, class_label``: one class-1 row per spot per frame (2D connected component
        of the label-1 voxels, at its centroid), then one class-2 row per expert event.
    """
    if event_tails not in EVENT_TAILS:
        raise ValueError(f"event_tails: expected one of {', '.join(EVENT_TAILS)}, got {event_tails!r}")
    detector = np.asarray(detector_labels) != 0
    expert = np.asarray(expert_labels) != 0
    if detector.shape != expert.shape:
        raise ValueError(f"detector segmentation of shape {detector.shape} and expert segmentation "
                         f"of shape {expert.shape} differ")
    events = expert_events[["t", "y", "x"]].to_numpy(float)

    if event_tails == "reference":
        _erase_blobs_near_events(detector, events, exclusion_radius)

    merged = detector.astype(np.int8) * SPOT_LABEL
    merged[expert] = EVENT_LABEL
    if event_tails == "spot":
        detector = merged == SPOT_LABEL  # the spot objects: what the event masks leave of the blobs

    spots, n_spots = ndi.label(detector, structure=_FRAME_STRUCTURE)
    spot_positions = _centroids(spots, n_spots) if n_spots else np.zeros((0, 3))
    del spots
    if max_spots is not None and len(spot_positions) > max_spots:
        chosen = np.random.default_rng(seed).choice(len(spot_positions), int(max_spots), replace=False)
        spot_positions = spot_positions[np.sort(chosen)]
    spot_rows = make_events(spot_positions[:, 0], spot_positions[:, 1], spot_positions[:, 2], SPOT_LABEL)
    event_rows = make_events(events[:, 0], events[:, 1], events[:, 2], EVENT_LABEL)
    merged_events = pd.concat([spot_rows, event_rows], ignore_index=True)
    return merged, merged_events
