"""From a segmentation to events: cluster -> measure -> score -> confidence -> physical units.

One order for every caller: :func:`~exodeepfinder.pipeline.detect`, ``edf_generate_annotation``
and the widgets all get their events from :func:`events_from_segmentation`.
"""

from __future__ import annotations

import pandas as pd

from ..progress import report, within

#: Events of fewer voxels are dropped by default (spurious detections are small).
DEFAULT_MIN_SIZE = 10


def events_from_segmentation(labels, scores=None, movie=None, *, cluster_radius: float = 5,
                             min_size: int | None = DEFAULT_MIN_SIZE, min_score: float | None = None,
                             keep_labels_unchanged: bool = False, offset: float = 0.0, pixel_size=None,
                             frame_interval: float | None = None, classifier=None, calibration=None,
                             min_confidence: float | None = None, progress=None) -> pd.DataFrame:
    """The events of a segmentation: clusters of event voxels, measured and scored in the movie if given.

    The end of :func:`~exodeepfinder.pipeline.detect`, in the same order (``min_score`` after
    measuring), also for a segmentation made earlier (``edf_generate_annotation``).

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        The label map (an array or an open HDF5 dataset).
    scores : array-like of float, shape (t, 3, y, x), optional
        The class probabilities: each event then has its mean event probability.
    movie : array-like, shape (t, y, x), optional
        The movie the labels were made from: each event is then measured in it
        (:func:`~exodeepfinder.events.measure.measure_events`), scored as ``detect`` scores it
        (with ``scores``) and given its position in micrometres and seconds (when known).
    cluster_radius, min_size, keep_labels_unchanged
        See :func:`~exodeepfinder.events.cluster.cluster_events`.
    min_score : float, optional
        Drop the events of lower score: with a movie, after measuring, on the score of ``detect``;
        without, on the mean event probability. Needs ``scores``.
    offset, pixel_size, frame_interval
        See ``detect`` (with a movie; ``pixel_size`` and ``frame_interval`` default to the movie file's).
    classifier : CandidateClassifier, optional
        A model folder's candidate classifier (:mod:`~exodeepfinder.events.classify`): the events
        are then its candidates, kept when their ``confidence`` reaches ``min_confidence`` (default:
        its threshold). Needs ``scores`` and the movie.
    calibration : Calibration, optional
        Without a classifier: gives each event its ``confidence``
        (:func:`~exodeepfinder.events.calibrate.add_confidence`, ``min_confidence``). Needs the movie.
    progress : callable, optional
        ``progress(done, 100)`` in percent (clustering, then measuring); returning False cancels.

    Returns
    -------
    DataFrame
        One row per event (see ``detect``).
    """
    _check_event_options(scores, movie, min_score, classifier, calibration, min_confidence)
    events = _clustering(classifier)(labels, cluster_radius=cluster_radius, keep_labels_unchanged=keep_labels_unchanged,
                                     scores=scores, min_size=min_size, min_score=min_score if movie is None else None,
                                     progress=within(progress, 0, 50))
    if movie is None:
        report(progress, 100, 100)
        return events
    if tuple(movie.shape) != tuple(labels.shape):
        raise ValueError(f"movie: shape {tuple(movie.shape)}, but the segmentation is {tuple(labels.shape)}")
    from ..events.measure import add_physical_units, measure_events
    from ..events.score import score_events

    file_metadata = getattr(movie, "metadata", None)
    if pixel_size is None:
        pixel_size = getattr(file_metadata, "pixel_size", None)
    if frame_interval is None:
        frame_interval = getattr(file_metadata, "frame_interval", None)
    events = measure_events(movie, events, offset=offset, progress=within(progress, 50, 100))
    if scores is not None:
        events = score_events(events, min_score)
    events = _add_confidence(events, movie, offset, classifier, calibration, min_confidence)
    report(progress, 100, 100)
    return add_physical_units(events, pixel_size=pixel_size, frame_interval=frame_interval)


def _check_event_options(scores, movie, min_score, classifier, calibration, min_confidence):
    """ValueError naming the option of :func:`events_from_segmentation` that its other inputs cannot serve."""
    if min_score is not None and scores is None:
        raise ValueError("min_score: needs the class probabilities (scores)")
    if classifier is not None and (scores is None or movie is None):
        raise ValueError("classifier: needs the class probabilities (scores) and the movie")
    if calibration is not None and movie is None:
        raise ValueError("calibration: needs the movie (the events' measurements)")
    if min_confidence and classifier is None and calibration is None:
        raise ValueError("min_confidence: needs a calibration or a classifier (events have no confidence)")


def _clustering(classifier):
    """How the event voxels become events: the default clustering, or a model folder's candidates."""
    from ..events.cluster import cluster_events

    if classifier is None:
        return cluster_events
    from functools import partial

    from ..events.features import cluster_candidates

    return partial(cluster_candidates, candidate_threshold=classifier.candidate_threshold)


def _add_confidence(events, movie, offset, classifier, calibration, min_confidence):
    """The events with their ``confidence``: a model folder's classifier's, else the calibration's, else none."""
    if classifier is not None:  # an adapted model folder: its classifier writes the confidence
        from ..events.features import add_trace_features

        return classifier.classify(add_trace_features(movie, events, offset=offset), min_confidence)
    if calibration is not None:
        from ..events.calibrate import add_confidence

        return add_confidence(events, calibration, min_confidence)
    return events
