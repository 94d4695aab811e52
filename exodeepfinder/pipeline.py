"""The whole analysis of a movie: segmentation, events, measurements.

:func:`segment` labels every voxel of a movie; :func:`detect` goes on to cluster the event
voxels into events (:func:`~exodeepfinder.events.cluster.cluster_events`) and to measure each
event in the movie (:func:`~exodeepfinder.events.measure.measure_events`). Both take a model
from :func:`~exodeepfinder.model.weights.load_model`, or load the default one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .progress import report, within

#: Events of fewer voxels are dropped by default (spurious detections are small).
DEFAULT_MIN_SIZE = 10
#: Shares of :func:`detect`'s progress (percent): segmentation, then clustering, then measurements.
_SEGMENT_SHARE, _CLUSTER_SHARE = 90, 95


def _model_or_default(model):
    from .model.weights import load_model

    return load_model() if model is None else model


def segment(movie, model=None, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
            tiling: str | None = None, return_scores: bool = False, max_memory=None, progress=None):
    """Label every voxel of a movie as background (0), bright spot (1) or exocytosis event (2).

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie: a NumPy array, or a lazy movie from :func:`~exodeepfinder.io.movie.open_movie`
        (read block of frames by block of frames).
    model : UNet or UNetWeights, optional
        From :func:`~exodeepfinder.model.weights.load_model` (default: ``load_model()``).
    patch_size : int
        Patch size of the reference tiling (multiple of 4, at least 56).
    precision : {"auto", "fast", "fp32", "int8"}
        ``"fast"``: 16-bit arithmetic where the hardware has it; ``"fp32"``: the reference's
        float32 numbers (and its tiling); ``"int8"``: 8-bit integer convolutions (OpenVINO on a
        CPU); ``"auto"`` (default): int8 on a CPU with OpenVINO, else fast.
    backend : {"auto", "torch", "openvino"}
        Inference engine (``"auto"``: OpenVINO on CPUs, PyTorch on GPUs).
    tiling : {"fast", "reference"}, optional
        ``"reference"``: the reference's windows; ``"fast"``: large windows. Default: reference
        with ``precision="fp32"``, else fast.
    return_scores : bool
        Also return the class probabilities.
    max_memory : int or str, optional
        Memory budget of the network's windows (bytes, or text such as ``"2GB"``).
    progress : callable, optional
        ``progress(done, total)``; returning False cancels (raises Cancelled).

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x)
        Only with ``return_scores``.
    """
    from .inference import segment_movie
    from .io.movie import as_movie

    return segment_movie(as_movie(movie), _model_or_default(model), patch_size=patch_size, precision=precision,
                         return_scores=return_scores, progress=progress, backend=backend, tiling=tiling,
                         max_memory=max_memory)


def iter_segment(movie, model=None, *, patch_size: int = 160, precision: str = "auto", backend: str = "auto",
                 tiling: str | None = None, return_scores: bool = False, max_memory=None, progress=None):
    """Like :func:`segment`, but yield :class:`~exodeepfinder.inference.SegmentedBlock` s of frames in order.

    Memory holds one block at a time, whatever the length of the movie.
    """
    from .inference import iter_segment as iter_blocks
    from .io.movie import as_movie

    return iter_blocks(as_movie(movie), _model_or_default(model), patch_size=patch_size, precision=precision,
                       return_scores=return_scores, progress=progress, backend=backend, tiling=tiling,
                       max_memory=max_memory)


def events_from_segmentation(labels, scores=None, movie=None, *, cluster_radius: float = 5,
                             min_size: int | None = DEFAULT_MIN_SIZE, min_score: float | None = None,
                             keep_labels_unchanged: bool = False, offset: float = 0.0, pixel_size=None,
                             frame_interval: float | None = None, progress=None) -> pd.DataFrame:
    """The events of a segmentation: clusters of event voxels, measured and scored in the movie if given.

    The end of :func:`detect` with its default clustering and score, in the same order (``min_score``
    after measuring), for a segmentation made earlier (``edf_generate_annotation``). :func:`detect`
    also applies a model folder's classifier or a calibration, which need the model.

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        The label map (an array or an open HDF5 dataset).
    scores : array-like of float, shape (t, 3, y, x), optional
        The class probabilities: each event then has its mean event probability.
    movie : array-like, shape (t, y, x), optional
        The movie the labels were made from: each event is then measured in it
        (:func:`~exodeepfinder.events.measure.measure_events`), scored as :func:`detect` scores it
        (with ``scores``) and given its position in micrometres and seconds (when known).
    cluster_radius, min_size, keep_labels_unchanged
        See :func:`~exodeepfinder.events.cluster.cluster_events`.
    min_score : float, optional
        Drop the events of lower score: with a movie, after measuring, on the score of :func:`detect`;
        without, on the mean event probability. Needs ``scores``.
    offset, pixel_size, frame_interval
        See :func:`detect` (with a movie; ``pixel_size`` and ``frame_interval`` default to the movie file's).
    progress : callable, optional
        ``progress(done, 100)`` in percent (clustering, then measuring); returning False cancels.

    Returns
    -------
    DataFrame
        One row per event (see :func:`detect`).
    """
    from .events.cluster import cluster_events
    from .events.measure import add_physical_units, measure_events
    from .events.score import score_events

    if min_score is not None and scores is None:
        raise ValueError("min_score: needs the class probabilities (scores)")
    events = cluster_events(labels, cluster_radius, keep_labels_unchanged=keep_labels_unchanged, scores=scores,
                            min_size=min_size, min_score=min_score if movie is None else None,
                            progress=within(progress, 0, 50))
    if movie is None:
        report(progress, 100, 100)
        return events
    if tuple(movie.shape) != tuple(labels.shape):
        raise ValueError(f"movie: shape {tuple(movie.shape)}, but the segmentation is {tuple(labels.shape)}")
    file_metadata = getattr(movie, "metadata", None)
    if pixel_size is None:
        pixel_size = getattr(file_metadata, "pixel_size", None)
    if frame_interval is None:
        frame_interval = getattr(file_metadata, "frame_interval", None)
    events = measure_events(movie, events, offset=offset, progress=within(progress, 50, 100))
    if scores is not None:
        events = score_events(events, min_score)
    report(progress, 100, 100)
    return add_physical_units(events, pixel_size=pixel_size, frame_interval=frame_interval)


def segment_file(movie, segmentation, model=None, *, save_scores: bool = False, pictures: dict | None = None,
                 channel=None, scene=None, overwrite: bool = False, progress=None, **options) -> Path:
    """Segment a movie into an HDF5 segmentation file: what ``edf_segment`` runs per movie.

    Parameters
    ----------
    movie : str, Path or movie
        A movie file (see :func:`~exodeepfinder.io.movie.open_movie`), or a movie already open
        (a lazy movie from ``open_movie`` or an array; it is not closed here).
    segmentation : str or Path
        The segmentation file to write: labels as ``dataset`` (int8), with ``save_scores`` also
        the class probabilities as ``scores`` (float16, ``[t, 3, y, x]``). Written block by
        block: memory holds one block of frames whatever the length of the movie.
    model : UNet or UNetWeights, optional
        See :func:`segment`.
    pictures : dict, optional
        Orthoslice pictures (PNG) to write too: ``{"movie": path, "labels": path}`` (either or both).
    channel, scene : str or int, optional
        For a movie file with several (see :func:`~exodeepfinder.io.movie.open_movie`).
    overwrite : bool
        Replace existing outputs (default: FileExistsError).
    progress : callable, optional
        ``progress(done, total)`` in network windows; returning False cancels (nothing is written).
    **options
        ``patch_size, precision, backend, tiling, max_memory``: see :func:`segment`.

    Returns
    -------
    Path
        The segmentation file. It and its pictures are published together, complete, or not at
        all (:func:`~exodeepfinder.io.atomic.atomic_outputs`).
    """
    import contextlib

    from .io.atomic import atomic_outputs
    from .io.movie import open_movie
    from .io.segmentation import write_segmentation_blocks

    pictures = {name: Path(path) for name, path in (pictures or {}).items()}
    if set(pictures) - {"movie", "labels"}:
        raise ValueError(f"pictures: expected 'movie' and/or 'labels', got {sorted(pictures)}")
    with contextlib.ExitStack() as stack:
        if isinstance(movie, (str, Path)):
            movie = stack.enter_context(open_movie(movie, channel=channel, scene=scene))
        outputs = {"segmentation": Path(segmentation), **pictures}
        with atomic_outputs(outputs, overwrite=overwrite) as temporary:
            blocks = iter_segment(movie, model, return_scores=save_scores, progress=progress, **options)
            write_segmentation_blocks(temporary["segmentation"], blocks, movie.shape, save_scores=save_scores)
            if pictures:
                _save_orthoslices(movie, temporary["segmentation"], {name: temporary[name] for name in pictures})
    return Path(segmentation)


def _save_orthoslices(movie, segmentation: Path, pictures: dict):
    from .io.figures import save_figure
    from .io.h5 import open_h5
    from .plots import orthoslices_figure

    labels = open_h5(segmentation)
    try:
        for name, volume, is_labels in (("movie", movie, False), ("labels", labels, True)):
            if name in pictures:
                save_figure(orthoslices_figure(volume, title=f"{segmentation.stem}: {name}", is_labels=is_labels),
                            pictures[name], dpi=80)
    finally:
        labels.file.close()


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
    """

    events: pd.DataFrame
    labels: object = None
    scores: object = None
    segmentation: Path | None = None
    calibration: object = None
    n_uncertain: int = 0


def detect(movie, model=None, *, segmentation=None, save_scores: bool = False, patch_size: int = 160,
           precision: str = "auto", backend: str = "auto", tiling: str | None = None, max_memory=None,
           cluster_radius: float = 5, min_size: int | None = DEFAULT_MIN_SIZE, min_score: float | None = None,
           min_confidence: float | None = None, calibration="auto", offset: float = 0.0, pixel_size=None,
           frame_interval: float | None = None, overwrite: bool = False, progress=None) -> Detection:
    """Detect the exocytosis events of a movie: segmentation, clustering, measurements.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie (a NumPy array or a lazy movie from :func:`~exodeepfinder.io.movie.open_movie`).
    model : UNet or UNetWeights, optional
        From :func:`~exodeepfinder.model.weights.load_model` (default: ``load_model()``). A model
        loaded from a model folder of ``exodeepfinder adapt`` carries a candidate classifier: the
        events are then the candidates found at its lower event probability, kept when their
        ``confidence`` (a column it adds) reaches its threshold (:mod:`~exodeepfinder.events.classify`).
    segmentation : str or Path, optional
        Stream the segmentation to this HDF5 file instead of keeping it in memory: for movies
        longer than memory allows. It is written atomically (nothing is left on error or cancel).
    save_scores : bool
        With ``segmentation``: also keep the class probabilities in the file (``scores``).
    overwrite : bool
        With ``segmentation``: replace an existing file (default: FileExistsError).
    patch_size, precision, backend, tiling, max_memory
        See :func:`segment`.
    cluster_radius, min_size
        See :func:`~exodeepfinder.events.cluster.cluster_events`.
    min_score : float, optional
        Drop the events whose ``score`` is lower (see :mod:`~exodeepfinder.events.score`: the
        network's mean event probability, lowered for events that barely rise above the noise
        or do not last beyond one frame).
    min_confidence : float, optional
        Drop the events whose calibrated ``confidence`` is lower. None: the calibration's default
        (for the bundled model, the threshold that maximises the worse of the F1s on two
        simulators: see docs/events.md); 0: keep every event. Weights without a calibration
        accept only None or 0. With a model folder's classifier, ``confidence`` is its output and
        None is its threshold.
    calibration : "auto", Calibration or None
        What turns each event into a ``confidence`` (:mod:`~exodeepfinder.events.calibrate`):
        ``"auto"``, the calibration shipped for the model's weights (the bundled model has one;
        other weights none, and then the events have no ``confidence`` column); None, none.
    offset : float
        Camera baseline subtracted before measuring (see :func:`~exodeepfinder.events.measure.measure_events`).
    pixel_size : float or (float, float), optional
        Pixel size in micrometres (``(y, x)`` or one value); default: the movie file's, for a
        movie from :func:`~exodeepfinder.io.movie.open_movie`.
    frame_interval : float, optional
        Time between frames in seconds; default: the movie file's.
    progress : callable, optional
        ``progress(done, 100)`` in percent over the whole detection; returning False cancels.

    Returns
    -------
    Detection
        ``events``, and ``labels`` and ``scores`` (in memory) or ``segmentation`` (the file);
        ``calibration`` and ``n_uncertain`` (events of confidence below 0.5).
        Each event has its ``score``, its ``confidence`` (with a calibration), its ``probability``
        (the mean event probability of its cluster) and the measurements of :func:`~exodeepfinder.events.measure.measure_events`.
        When the pixel size and frame interval are known, the events also have their positions
        and measurements in micrometres and seconds (``t_s, y_um, x_um``... see
        :func:`~exodeepfinder.events.measure.add_physical_units`).

    Examples
    --------
    >>> import exodeepfinder as edf
    >>> sim = edf.simulate((60, 64, 64), n_events=3, seed=1)
    >>> detection = edf.detect(sim.movie, edf.load_model("bundled", device="cpu"))   # doctest: +SKIP
    >>> detection.events[["t", "y", "x", "score"]]                                    # doctest: +SKIP
    """
    from .events.calibrate import add_confidence, count_uncertain
    from .events.measure import add_physical_units, measure_events
    from .events.score import score_events
    from .inference import segment_movie
    from .io.movie import as_movie

    file_metadata = getattr(movie, "metadata", None)  # a movie from open_movie knows its units
    if pixel_size is None:
        pixel_size = getattr(file_metadata, "pixel_size", None)
    if frame_interval is None:
        frame_interval = getattr(file_metadata, "frame_interval", None)
    movie = as_movie(movie)  # checked once, here: the inference functions below do not check again
    model = _model_or_default(model)
    classifier = getattr(model, "classifier", None)  # a model folder's candidate classifier (exodeepfinder adapt)
    calibration = _calibration_of(model, calibration, min_confidence if classifier is None else 0)
    options = dict(patch_size=patch_size, precision=precision, return_scores=True,
                   progress=within(progress, 0, _SEGMENT_SHARE), backend=backend, tiling=tiling,
                   max_memory=max_memory)
    cluster_options = dict(cluster_radius=cluster_radius, min_size=min_size,
                           progress=within(progress, _SEGMENT_SHARE, _CLUSTER_SHARE))
    measure_progress = within(progress, _CLUSTER_SHARE, 100)
    cluster = _clustering(classifier)

    def measure_and_score(found):
        found = score_events(measure_events(movie, found, offset=offset, progress=measure_progress), min_score)
        if classifier is not None:  # an adapted model folder: its classifier writes the confidence
            from .events.features import add_trace_features

            found = classifier.classify(add_trace_features(movie, found, offset=offset), min_confidence)
        elif calibration is not None:
            found = add_confidence(found, calibration, min_confidence)
        return add_physical_units(found, pixel_size=pixel_size, frame_interval=frame_interval)

    if segmentation is None:
        labels, scores = segment_movie(movie, model, **options)
        events = measure_and_score(cluster(labels, scores=scores, **cluster_options))
        report(progress, 100, 100)
        return Detection(events, labels, scores, calibration=calibration, n_uncertain=count_uncertain(events))
    events = _detect_to_file(movie, model, Path(segmentation), save_scores, overwrite, options, cluster_options,
                             measure_and_score, cluster)
    report(progress, 100, 100)
    return Detection(events, segmentation=Path(segmentation), calibration=calibration,
                     n_uncertain=count_uncertain(events))


def _calibration_of(model, calibration, min_confidence):
    """The calibration :func:`detect` applies (see its ``calibration``); ValueError for a bad ``min_confidence``."""
    from .events.calibrate import Calibration, calibration_for_model

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


def _clustering(classifier):
    """How the event voxels become events: the default clustering, or a model folder's candidates."""
    from functools import partial

    from .events.cluster import cluster_events

    if classifier is None:
        return cluster_events
    from .events.features import cluster_candidates

    return partial(cluster_candidates, candidate_threshold=classifier.candidate_threshold)


def _detect_to_file(movie, model, path: Path, save_scores, overwrite, options, cluster_options, measure,
                    cluster=None):
    """Segment into ``path`` block by block, cluster from the file, then measure; return the events.

    The clustering needs the class scores: they are written with the labels into the temporary
    file, and dropped (the labels copied into a file of their own) unless ``save_scores``.
    """
    from .events.cluster import cluster_events
    from .inference import iter_segment as iter_blocks
    from .io.atomic import atomic_output
    from .io.h5 import write_h5
    from .io.segmentation import NO_CONTRAST_ATTR, SEGMENTATION_ATTRS, open_segmentation, write_segmentation_blocks

    with atomic_output(path, overwrite=overwrite) as scratch:
        write_segmentation_blocks(scratch, iter_blocks(movie, model, **options), movie.shape, save_scores=True)
        labels, scores = open_segmentation(scratch)
        try:
            events = (cluster or cluster_events)(labels, scores=scores, **cluster_options)
            if not save_scores:
                attrs = dict(SEGMENTATION_ATTRS)
                if NO_CONTRAST_ATTR in labels.file.attrs:  # provenance: frames blank to the network
                    attrs[NO_CONTRAST_ATTR] = labels.file.attrs[NO_CONTRAST_ATTR]
                write_h5(scratch.with_name(scratch.name + ".labels.h5"), labels, attrs=attrs)
        finally:
            labels.file.close()
        if not save_scores:
            scratch.with_name(scratch.name + ".labels.h5").replace(scratch)
        events = measure(events)
    return events


#: The files :func:`detect_file` can write, and what each holds.
DETECTION_OUTPUTS = {
    "segmentation": "labels (0 background, 1 bright spot, 2 event) as HDF5, optionally the class probabilities",
    "events": "events with scores and measurements (CSV)",
    "annotation": "events as a reference ExoDeepFinder annotation (XML)",
    "figure": "events over the maximum projection (PNG)",
    "gallery": "crops of the best-scored events (PNG)",
}
#: Movies up to this size are read into memory (faster measurements); larger ones are read lazily.
IN_MEMORY_BYTES = 2 * 1024 ** 3


def in_memory_limit(max_memory=None) -> int:
    """Movies up to this many bytes are read into memory: :data:`IN_MEMORY_BYTES`, and at most a quarter
    of the memory budget (``max_memory``, else the default one) so that the segmentation keeps the rest."""
    from .inference.memory import default_max_memory, parse_memory

    budget = default_max_memory() if max_memory is None else parse_memory(max_memory)
    return int(min(IN_MEMORY_BYTES, budget // 4))


def detect_file(movie_path, outputs: dict, model=None, *, channel=None, scene=None, gallery_size: int = 40,
                overwrite: bool = False, progress=None, provenance=None, **options) -> pd.DataFrame:
    """Detect the events of a movie file and write the results: what ``exodeepfinder detect`` runs per movie.

    Parameters
    ----------
    movie_path : str or Path
        An HDF5 movie, a TIFF stack, a folder of TIFF frames or a microscope file (see
        :func:`~exodeepfinder.io.movie.open_movie`).
    outputs : dict
        Output path of each file to write, by name (keys of :data:`DETECTION_OUTPUTS`;
        ``segmentation`` is required, the others are optional).
    model : UNet or UNetWeights, optional
        See :func:`detect`.
    channel, scene : str or int, optional
        The channel and scene of a microscope file with several (see :func:`~exodeepfinder.io.movie.open_movie`).
    gallery_size : int
        Events shown in the gallery.
    overwrite : bool
        Replace existing outputs (default: FileExistsError before any work).
    progress : callable, optional
        ``progress(done, 100)`` in percent; returning False cancels (nothing is written).
    provenance : (path, callable), optional
        A provenance record published with the other outputs: ``callable(events)`` returns the
        record (a dict) written as JSON at ``path`` (see :mod:`exodeepfinder.provenance`).
    **options
        Passed to :func:`detect` (``save_scores``, ``patch_size``, ``precision``, ``min_size``...).

    Returns
    -------
    DataFrame
        The events; with ``t_s, y_um, x_um``... when the movie file gives its pixel size and
        frame interval (and ``options`` do not set them).

    Notes
    -----
    Every output is written under a temporary name and published only when all of them are
    complete, together (:func:`~exodeepfinder.io.atomic.atomic_outputs`): an error or a cancel
    leaves none of them, and if one cannot be published those already published are taken back.
    Without ``overwrite``, the check that an output does not exist is made again, in one step
    with its publishing.
    """
    import contextlib
    import errno

    import numpy as np

    from .inference.memory import budget_beside
    from .io.movie import open_movie

    unknown = set(outputs) - set(DETECTION_OUTPUTS)
    if unknown or "segmentation" not in outputs:
        raise ValueError(f"outputs: expected 'segmentation' and any of {sorted(DETECTION_OUTPUTS)}, got {sorted(outputs)}")
    outputs = {name: Path(path) for name, path in outputs.items()}
    record = None
    if provenance is not None:  # published with the others: a rerun never finds the results without it
        outputs["provenance"], record = Path(provenance[0]), provenance[1]
    if not overwrite:  # before any work; checked again when publishing
        for path in outputs.values():
            if path.exists():
                raise FileExistsError(errno.EEXIST, "already exists", str(path))
    movie_path = Path(movie_path)
    with contextlib.ExitStack() as stack:
        movie = stack.enter_context(open_movie(movie_path, channel=channel, scene=scene))
        options.setdefault("pixel_size", movie.metadata.pixel_size)
        options.setdefault("frame_interval", movie.metadata.frame_interval)
        held = int(np.prod(movie.shape)) * movie.dtype.itemsize
        if held <= in_memory_limit(options.get("max_memory")):
            movie = np.asarray(movie[0:movie.shape[0]])
            stack.close()  # in memory now: the file is not needed any more
            options["max_memory"] = budget_beside(options.get("max_memory"), held)  # the rest to the segmentation
        return _detect_and_write(movie, movie_path.name, outputs, model, gallery_size, overwrite, progress, options,
                                 record)


def _detect_and_write(movie, name, outputs, model, gallery_size, overwrite, progress, options, record=None):
    import json

    from .io.atomic import atomic_outputs
    from .io.events import write_events
    from .plots import events_figure, gallery_figure, max_projection

    with atomic_outputs(outputs, overwrite=overwrite) as temporary:
        events = detect(movie, model, segmentation=temporary["segmentation"], overwrite=True, progress=progress,
                        **options).events
        if "events" in temporary:
            write_events(events, temporary["events"])
        if "annotation" in temporary:
            write_events(events, temporary["annotation"])
        if "figure" in temporary:
            title = f"{name}: {len(events)} events over the maximum projection"
            events_figure(max_projection(movie), events, title).savefig(temporary["figure"])
        if "gallery" in temporary:
            gallery_figure(movie, events, n_events=gallery_size).savefig(temporary["gallery"])
        if record is not None:
            Path(temporary["provenance"]).write_text(json.dumps(record(events), indent=2) + "\n")
    return events
