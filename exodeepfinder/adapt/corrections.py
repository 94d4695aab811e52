"""What a user's corrections say: reviewed movies, the verdict on each detection, held-out splits.

Shared by the two stages of :mod:`~exodeepfinder.adapt.core` (the classifier) and
:mod:`~exodeepfinder.adapt.finetune` (fine-tuning), so that both judge and split the same way.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import InputError
from ..io.events import REVIEW_COLUMN
from ..progress import report, within


#: Matching distance (voxels) between detections and corrections.
TOLERANCE = 5.0
#: Review states that mark a real event, and the one that marks a false one.
REAL_STATES = ("accepted", "added")
REJECTED_STATE = "rejected"


@dataclass
class ReviewedMovie:
    """A movie and the corrections of its detections.

    Attributes
    ----------
    name : str
        Shown in reports and on the model card.
    movie : ndarray, shape (t, y, x)
    corrections : DataFrame
        Events (``t, y, x``) with a ``review`` column (``accepted``, ``rejected``, ``added``,
        ``unreviewed``), or without one: a complete annotation (every event of the movie; any
        detection not in it is false).
    offset : float
        Camera baseline (see :func:`~exodeepfinder.events.measure.measure_events`).
    """

    name: str
    movie: np.ndarray
    corrections: pd.DataFrame
    offset: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every detection was judged: no review column (a full annotation) or none left unreviewed."""
        if REVIEW_COLUMN not in self.corrections.columns:
            return True
        return not (self.corrections[REVIEW_COLUMN] == "unreviewed").any()

    def real_events(self) -> pd.DataFrame:
        """The events the corrections call real (accepted and added, or all of a full annotation)."""
        if REVIEW_COLUMN not in self.corrections.columns:
            return self.corrections
        return self.corrections[self.corrections[REVIEW_COLUMN].isin(REAL_STATES)]


def check_reviewed(movie: ReviewedMovie, source=None) -> None:
    """InputError (one line naming ``source``) for corrections that do not fit the movie or hold no judgement."""
    from ..io.events import check_events_in_movie

    source = source or movie.name
    if np.ndim(movie.movie) != 3:
        raise InputError(f"{source}: the movie is not [t, y, x] (shape {np.shape(movie.movie)})")
    corrections = movie.corrections
    if len(corrections) == 0:
        raise InputError(f"{source}: no corrections (the event list is empty: accept, reject or add events first)")
    if REVIEW_COLUMN in corrections.columns and not corrections[REVIEW_COLUMN].isin(
            REAL_STATES + (REJECTED_STATE,)).any():
        raise InputError(f"{source}: empty review (all {len(corrections)} events are unreviewed: accept, reject "
                         "or add events first)")
    try:
        check_events_in_movie(corrections, np.shape(movie.movie), source)
    except InputError as err:
        raise InputError(f"{err} - the corrections do not match this movie's size") from None


def judge(detected: pd.DataFrame, reviewed: ReviewedMovie) -> np.ndarray:
    """What the corrections say of each detection: 1 real, 0 false, -1 unknown.

    A detection matched (within :data:`TOLERANCE` voxels, one to one) to an accepted or added
    event is real; matched to a rejected one, false; matched to an unreviewed one, unknown;
    matched to nothing: false when the review is complete (the user would have accepted or added
    it), else unknown.
    """
    from ..events.evaluate import match_events

    verdict = np.full(len(detected), 0 if reviewed.complete else -1, int)
    if len(detected) == 0:
        return verdict
    corrections = reviewed.corrections.reset_index(drop=True)
    if REVIEW_COLUMN in corrections.columns:
        states = corrections[REVIEW_COLUMN].to_numpy()
    else:
        states = np.full(len(corrections), "accepted", object)
    pairs = match_events(detected.reset_index(drop=True), corrections, TOLERANCE).pairs
    for d, r in zip(pairs["detected"].to_numpy(int), pairs["reference"].to_numpy(int)):
        verdict[d] = 1 if states[r] in REAL_STATES else 0 if states[r] == REJECTED_STATE else -1
    return verdict


def counts(kept: pd.DataFrame, reviewed: ReviewedMovie) -> np.ndarray:
    """``tp, fp, fn`` of the events ``kept`` against the corrections (unknown detections are left out)."""
    from ..events.evaluate import match_events

    verdict = judge(kept, reviewed)
    real = reviewed.real_events()
    found = match_events(kept.reset_index(drop=True), real.reset_index(drop=True), TOLERANCE).summary["tp"]
    return np.array([int((verdict == 1).sum()), int((verdict == 0).sum()), len(real) - found], np.int64)


def scores_of(tp_fp_fn) -> dict:
    """``tp, fp, fn, precision, recall, f1`` of summed counts."""
    from ..events.evaluate import summarize

    return {key: (float(value) if isinstance(value, (float, np.floating)) else int(value))
            for key, value in summarize(*np.asarray(tp_fp_fn).reshape(-1, 3).sum(0)).items()}


@dataclass
class _Detected:
    """One movie through the base network: its default detections and its candidates, both described."""

    reviewed: ReviewedMovie
    base: pd.DataFrame
    candidates: pd.DataFrame
    labels: np.ndarray = None
    scores: np.ndarray = None
    verdict: np.ndarray = None


def default_detections(events: pd.DataFrame, model) -> pd.DataFrame:
    """What ``detect`` keeps by default of measured events: those its calibration's default ``min_confidence`` keeps."""
    from ..events.calibrate import add_confidence, calibration_for_model

    calibration = calibration_for_model(model)
    return events if calibration is None else add_confidence(events, calibration)


def describe(reviewed: ReviewedMovie, model, candidate_threshold: float, progress, keep_network: bool):
    from ..events.cluster import cluster_events
    from ..events.features import add_network_features, add_trace_features, cluster_candidates
    from ..events.measure import measure_events
    from ..events.score import score_events
    from ..inference import segment_movie
    from ..io.movie import as_movie
    from ..pipeline import DEFAULT_MIN_SIZE, detect

    movie = as_movie(reviewed.movie)
    # the network as detect runs it by default (same precision and tiling: the same candidates)
    network_defaults = {name: parameter.default for name, parameter in inspect.signature(detect).parameters.items()
                        if name in ("patch_size", "precision", "backend", "tiling")}
    labels, scores = segment_movie(movie, model, return_scores=True, progress=within(progress, 0, 85),
                                   **network_defaults)

    def measured(events):
        return score_events(measure_events(movie, events, offset=reviewed.offset))

    base = measured(add_network_features(cluster_events(labels, scores=scores, min_size=DEFAULT_MIN_SIZE), scores))
    base = default_detections(base, model)
    report(progress, 90, 100)
    candidates = measured(cluster_candidates(labels, scores, candidate_threshold, min_size=DEFAULT_MIN_SIZE))
    candidates = add_trace_features(movie, candidates, offset=reviewed.offset)
    report(progress, 100, 100)
    described = _Detected(reviewed, base, candidates)
    if keep_network:
        described.labels, described.scores = labels, scores
    described.verdict = judge(candidates, reviewed)
    return described


def held_out_folds(described: list) -> list:
    """Held-out splits: (train parts, test parts); a part is (movie index, event mask function)."""
    if len(described) > 1:
        return [([j for j in range(len(described)) if j != i], [i]) for i in range(len(described))]
    return [("second half", "first half"), ("first half", "second half")]


def half(detected: pd.DataFrame, n_frames: int, which: str) -> np.ndarray:
    first = detected["t"].to_numpy(float) < n_frames / 2
    return first if which == "first half" else ~first


def half_movie(reviewed: ReviewedMovie, which: str) -> ReviewedMovie:
    corrections = reviewed.corrections
    mask = half(corrections, np.shape(reviewed.movie)[0], which)
    return ReviewedMovie(f"{reviewed.name} ({which})", reviewed.movie, corrections[mask], reviewed.offset)


def training_rows(described: list, train) -> tuple[pd.DataFrame, np.ndarray]:
    """Candidates with a known verdict of the training part of a fold (or of every movie)."""
    tables, real = [], []
    parts = [(i, None) for i in train] if train and isinstance(train[0], int) else [(0, train)]
    for i, which in parts:
        d = described[i]
        known = d.verdict >= 0
        if which is not None:
            known &= half(d.candidates, np.shape(d.reviewed.movie)[0], which)
        tables.append(d.candidates[known])
        real.append(d.verdict[known] == 1)
    return pd.concat(tables, ignore_index=True), np.concatenate(real)


def test_parts(described: list, test) -> list:
    """(reviewed movie restricted to the test part, base detections, candidates) of a fold."""
    if isinstance(test[0], int):
        return [(described[i].reviewed, described[i].base, described[i].candidates) for i in test]
    d = described[0]
    n_frames = np.shape(d.reviewed.movie)[0]
    which = test
    return [(half_movie(d.reviewed, which), d.base[half(d.base, n_frames, which)],
             d.candidates[half(d.candidates, n_frames, which)])]
