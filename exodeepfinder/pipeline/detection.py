"""Detection: the segmentation of a movie and its events, in memory or with the segmentation streamed to a file."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..progress import within
from .events import DEFAULT_MIN_SIZE, events_from_segmentation
from .segmentation import model_or_default, segment_with_scores

#: Share of :func:`detect`'s progress (percent) taken by the segmentation; the events take the rest.
_SEGMENT_SHARE = 90


@dataclass
class Detection:
    """What :func:`detect` found in a movie.

    Attributes
    ----------
    events : DataFrame
        One row per event: ``t, y, x, class_label, cluster_size, obj_id, score, probability``
        and the measurement columns of :func:`~exodeepfinder.events.measure.measure_events`.
    labels : ndarray of int8 (t, y, x) or None
        The segmentation (None when it was streamed to a file).
    scores : ndarray of float16 (t, 3, y, x) or None
        Class probabilities (None when streamed to a file).
    segmentation : Path or None
        The segmentation file, when :func:`detect` wrote one.
    calibration : Calibration or None
        The calibration that gave the events their ``confidence``
        (:mod:`~exodeepfinder.events.calibrate`); None for weights without one.
    n_uncertain : int
        Events kept whose ``confidence`` is below 0.5: to review first (0 without a calibration).
    no_contrast : tuple of int
        Frames without contrast, which the network saw blank (in memory; a segmentation file
        records them itself).
    """

    events: pd.DataFrame
    labels: object = None
    scores: object = None
    segmentation: Path | None = None
    calibration: object = None
    n_uncertain: int = 0
    no_contrast: tuple = ()


def detect(movie, model=None, *, segmentation=None, save_scores: bool = False, patch_size: int = 160,
           precision: str = "auto", backend: str = "auto", tiling: str | None = None, max_memory=None,
           cluster_radius: float = 5, min_size: int | None = DEFAULT_MIN_SIZE, min_score: float | None = None,
           min_confidence: float | None = None, calibration="auto", offset: float = 0.0, pixel_size=None,
           frame_interval: float | None = None, overwrite: bool = False, progress=None) -> Detection:
    """Detect the exocytosis events of a movie: segmentation, then :func:`~exodeepfinder.pipeline.events_from_segmentation`.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie (a NumPy array or a lazy movie from :func:`~exodeepfinder.io.movie.open_movie`).
    model : UNet or UNetWeights, optional
        From :func:`~exodeepfinder.model.weights.load_model` (default: ``load_model()``). A model
        folder of ``exodeepfinder adapt`` carries a candidate classifier: the events are then the
        candidates found at its lower event probability, kept when their ``confidence`` reaches
        its threshold (:mod:`~exodeepfinder.events.classify`).
    segmentation : str or Path, optional
        Stream the segmentation to this HDF5 file (atomically) instead of keeping it in memory:
        for movies longer than memory allows. ``save_scores``: keep the class probabilities in
        it too; ``overwrite``: replace an existing file (default: FileExistsError).
    patch_size, precision, backend, tiling, max_memory
        See :func:`~exodeepfinder.pipeline.segment`.
    cluster_radius, min_size, offset, pixel_size, frame_interval
        See :func:`~exodeepfinder.pipeline.events_from_segmentation` (``pixel_size`` in
        micrometres, one value or ``(y, x)``; ``frame_interval`` in seconds; default: the movie file's).
    min_score : float, optional
        Drop the events whose ``score`` is lower (:mod:`~exodeepfinder.events.score`: the mean
        event probability, lowered for events that barely rise above the noise or last one frame).
    min_confidence : float, optional
        Drop the events whose calibrated ``confidence`` is lower. None: the calibration's default
        (bundled model: see docs/events.md); 0: keep every event. Weights without a calibration
        accept only None or 0. With a classifier, None is its threshold.
    calibration : "auto", Calibration or None
        What gives each event its ``confidence`` (:mod:`~exodeepfinder.events.calibrate`): ``"auto"``,
        the calibration shipped for the weights (none for most: then no ``confidence`` column).
    progress : callable, optional
        ``progress(done, 100)`` in percent over the whole detection; returning False cancels.

    Returns
    -------
    Detection
        ``events`` (``score``, ``confidence`` with a calibration, ``probability``, the measurements
        and, with a known pixel size and frame interval, ``t_s, y_um, x_um``...), ``labels`` and
        ``scores`` (in memory) or ``segmentation`` (the file), ``calibration``, ``n_uncertain``.

    Examples
    --------
    >>> import exodeepfinder as edf
    >>> sim = edf.simulate((60, 64, 64), n_events=3, seed=1)
    >>> detection = edf.detect(sim.movie, edf.load_model("bundled", device="cpu"))   # doctest: +SKIP
    >>> detection.events[["t", "y", "x", "score"]]                                    # doctest: +SKIP
    """
    from ..events.calibrate import count_uncertain
    from ..io.movie import as_movie

    file_metadata = getattr(movie, "metadata", None)  # a movie from open_movie knows its units
    movie = as_movie(movie)  # checked once, here: the inference functions below do not check again
    model = model_or_default(model)
    classifier = getattr(model, "classifier", None)  # a model folder's candidate classifier (exodeepfinder adapt)
    calibration = _calibration_of(model, calibration, min_confidence if classifier is None else 0)
    options = dict(patch_size=patch_size, precision=precision, backend=backend, tiling=tiling,
                   max_memory=max_memory, progress=within(progress, 0, _SEGMENT_SHARE))
    event_options = dict(cluster_radius=cluster_radius, min_size=min_size, min_score=min_score, offset=offset,
                         pixel_size=getattr(file_metadata, "pixel_size", None) if pixel_size is None else pixel_size,
                         frame_interval=getattr(file_metadata, "frame_interval", None) if frame_interval is None
                         else frame_interval, classifier=classifier, calibration=calibration,
                         min_confidence=min_confidence, progress=within(progress, _SEGMENT_SHARE, 100))
    if segmentation is None:
        labels, scores, no_contrast = segment_with_scores(movie, model, **options)
        events = events_from_segmentation(labels, scores, movie, **event_options)
        return Detection(events, labels, scores, calibration=calibration, n_uncertain=count_uncertain(events),
                         no_contrast=no_contrast)
    events = _detect_to_file(movie, model, Path(segmentation), save_scores, overwrite, options, event_options)
    return Detection(events, segmentation=Path(segmentation), calibration=calibration,
                     n_uncertain=count_uncertain(events))


def _calibration_of(model, calibration, min_confidence):
    """The calibration :func:`detect` applies (see its ``calibration``); ValueError for a bad ``min_confidence``."""
    from ..events.calibrate import Calibration, calibration_for_model

    if min_confidence is not None and not 0 <= min_confidence <= 1:
        raise ValueError(f"min_confidence: must be between 0 and 1, got {min_confidence:g}")
    if isinstance(calibration, str):
        if calibration != "auto":
            raise ValueError(f"calibration: expected 'auto', a Calibration or None, got {calibration!r}")
        calibration = calibration_for_model(model)
    elif calibration is not None and not isinstance(calibration, Calibration):
        raise ValueError(f"calibration: expected 'auto', a Calibration or None, got {type(calibration).__name__}")
    if calibration is None and min_confidence:
        raise ValueError("min_confidence: these weights have no calibration, so events have no confidence "
                         "(use min_score instead, or min_confidence 0)")
    return calibration


def _detect_to_file(movie, model, path: Path, save_scores, overwrite, options, event_options):
    """Segment into ``path`` block by block, then find the events from the file; return them.

    For movies that do not fit in memory. The events need the class probabilities: unless
    ``save_scores`` keeps them in ``path``, they go to a scratch file beside it, removed at the end.
    """
    import h5py

    from ..inference import iter_segment as iter_blocks
    from ..io.atomic import atomic_output
    from ..io.segmentation import SCORES, open_segmentation, write_segmentation_blocks

    with atomic_output(path, overwrite=overwrite) as scratch, contextlib.ExitStack() as opened:
        scores_path = None if save_scores else scratch.with_name(scratch.name + ".scores.h5")
        if scores_path is not None:
            opened.callback(scores_path.unlink, missing_ok=True)
        write_segmentation_blocks(scratch, iter_blocks(movie, model, **options, return_scores=True), movie.shape,
                                  save_scores=True, scores_path=scores_path)
        labels, scores = open_segmentation(scratch)
        opened.callback(labels.file.close)
        if scores_path is not None:
            scores = opened.enter_context(h5py.File(scores_path, "r"))[SCORES]
        return events_from_segmentation(labels, scores, movie, **event_options)
