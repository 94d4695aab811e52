"""The whole analysis of a movie: segmentation, events, measurements.

:func:`detect_events` runs the three steps on arrays in memory. For long movies, the
``detect`` command streams the segmentation to a file instead and calls :func:`find_events`
on the (lazy) label map and scores read back from it, so memory does not grow with the movie.
"""

from __future__ import annotations

#: Events of fewer voxels are dropped by default (spurious detections are small).
DEFAULT_MIN_SIZE = 10


def find_events(labels, movie, *, scores=None, cluster_radius=5, min_size=DEFAULT_MIN_SIZE, min_score=None,
                offset=0.0, progress=None, measure_progress=None):
    """Cluster the event voxels of a segmentation into events and measure each event in the movie.

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        Segmentation (a NumPy array or a lazy h5py dataset: it is read block by block).
    movie : array-like, shape (t, y, x)
        The segmented movie (only a small box around each event is read).
    scores : array-like of float, shape (t, 3, y, x), optional
        Class probabilities: events then get a ``score`` (mean event probability).
    cluster_radius, min_size, min_score
        See :func:`exodeepfinder.events.cluster.cluster_events`.
    offset : float
        Camera baseline subtracted before measuring (see :func:`exodeepfinder.events.measure.measure_events`).
    progress, measure_progress : callable, optional
        ``progress(done, total)`` over frames of labels read, and over events measured.

    Returns
    -------
    events : DataFrame
        ``t, y, x, class_label, cluster_size, obj_id`` (``score`` with ``scores``) and the
        measurement columns of :func:`exodeepfinder.events.measure.measure_events`.
    """
    from .events.cluster import cluster_events
    from .events.measure import measure_events

    events = cluster_events(labels, cluster_radius, scores=scores, min_size=min_size, min_score=min_score,
                            progress=progress)
    return measure_events(movie, events, offset=offset, progress=measure_progress)


def detect_events(movie, model, *, patch_size=160, precision="fast", cluster_radius=5, min_size=DEFAULT_MIN_SIZE,
                  min_score=None, offset=0.0, return_scores=False, progress=None, measure_progress=None):
    """Segment a movie, cluster its event voxels into events, and measure each event.

    Everything is held in memory (labels and class scores of the whole movie).

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        Raw movie.
    model : UNet
        The network (see :func:`exodeepfinder.model.weights.load_unet`).
    patch_size, precision
        See :func:`exodeepfinder.inference.segment_movie`.
    cluster_radius, min_size, min_score, offset, measure_progress
        See :func:`find_events`.
    return_scores : bool
        Also return the class probabilities.
    progress : callable, optional
        ``progress(done, total)`` over network windows.

    Returns
    -------
    labels : ndarray of int8 (t, y, x)
    events : DataFrame
        ``t, y, x, class_label, cluster_size, obj_id, score`` and the measurement columns of
        :func:`exodeepfinder.events.measure.measure_events`.
    scores : ndarray of float16 (t, 3, y, x), only with ``return_scores``
    """
    from .inference import segment_movie

    labels, scores = segment_movie(movie, model, patch_size=patch_size, precision=precision, return_scores=True,
                                   progress=progress)
    events = find_events(labels, movie, scores=scores, cluster_radius=cluster_radius, min_size=min_size,
                         min_score=min_score, offset=offset, measure_progress=measure_progress)
    return (labels, events, scores) if return_scores else (labels, events)
