"""ExoDeepFinder: detect exocytosis events in TIRF microscopy movies.

A PyTorch re-implementation of ExoDeepFinder (Lachuer, Moebel et al., PLOS Comput Biol 2025):
a 3D U-Net labels every voxel of a 2D + time movie as background, bright spot or exocytosis
event; the event voxels are clustered into events, and each event is measured in the movie.

The functions a notebook needs are here::

    import exodeepfinder as edf

    movie = edf.open_movie("cell1/movie.h5")          # lazy [t, y, x]; or any NumPy array
    model = edf.load_model()                          # bundled, official or your own weights
    detection = edf.detect(movie, model)              # segmentation + events + measurements
    detection.events                                  # DataFrame: t, y, x, score, peak_dff...
    edf.write_events(detection.events, "cell1/events.csv")

Movies and files
    :func:`open_movie`, :func:`read_movie`, :func:`read_events`, :func:`write_events`,
    :func:`read_segmentation`, :func:`write_segmentation`
The model
    :func:`load_model`, :func:`download_weights`
Detection
    :func:`segment`, :func:`find_events`, :func:`measure_events`, :func:`score_events`, :func:`event_trace`,
    :func:`detect`, :func:`evaluate`; from a segmentation made earlier :func:`events_from_segmentation`;
    the file a command writes :func:`segment_file`
Calibration (``confidence``: the probability that an event is real)
    :func:`fit_calibration`, :func:`add_confidence`, :func:`read_calibration`, :func:`write_calibration`
Training
    :func:`events_to_labels`, :func:`detect_spots`, :func:`merge_detector_expert`,
    :func:`structure_training_dataset`, :func:`train`
Adapting to your movies
    :func:`adapt` (from :class:`ReviewedMovie` s: a model folder that :func:`load_model` and
    :func:`detect` accept)
Simulation
    :func:`simulate`, :func:`simulate_randomized` (parameters drawn from wide ranges)
From events to answers
    :func:`analyse_cell` (mask, event types, rate per µm² per minute, spatial statistics),
    :func:`classify_events`, :func:`compare_conditions`, :func:`read_mask`

Long functions take ``progress``, a callable ``progress(done, total)``; returning False from it
cancels the work, which raises :class:`Cancelled`. Bad input raises :class:`InputError` with a
one-line message. Label values: :data:`LABELS`.

The sub-packages follow the pipeline: :mod:`~exodeepfinder.io`, :mod:`~exodeepfinder.model`,
:mod:`~exodeepfinder.inference`, :mod:`~exodeepfinder.events`,
:mod:`~exodeepfinder.training_data`, :mod:`~exodeepfinder.training`,
:mod:`~exodeepfinder.simulation`, :mod:`~exodeepfinder.cli` and :mod:`~exodeepfinder.gui`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_names
from ._version import __version__
from .errors import Cancelled, InputError
from .labels import LABELS

# Public name -> (module, attribute). Imported on first use, so that `import exodeepfinder` and
# every command's --help stay fast (no torch, pandas or h5py until they are needed).
_API = {
    "open_movie": ("exodeepfinder.io.movie", "open_movie"),
    "read_movie": ("exodeepfinder.io.movie", "read_movie"),
    "read_events": ("exodeepfinder.io.events", "read_events"),
    "write_events": ("exodeepfinder.io.events", "write_events"),
    "read_segmentation": ("exodeepfinder.io.segmentation", "read_segmentation"),
    "write_segmentation": ("exodeepfinder.io.segmentation", "write_segmentation"),
    "load_model": ("exodeepfinder.model.weights", "load_model"),
    "download_weights": ("exodeepfinder.model.download", "download_weights"),
    "segment": ("exodeepfinder.pipeline", "segment"),
    "detect": ("exodeepfinder.pipeline", "detect"),
    "events_from_segmentation": ("exodeepfinder.pipeline", "events_from_segmentation"),
    "segment_file": ("exodeepfinder.pipeline", "segment_file"),
    "Detection": ("exodeepfinder.pipeline", "Detection"),
    "find_events": ("exodeepfinder.events.cluster", "cluster_events"),
    "measure_events": ("exodeepfinder.events.measure", "measure_events"),
    "event_trace": ("exodeepfinder.events.measure", "event_trace"),
    "score_events": ("exodeepfinder.events.score", "score_events"),
    "fit_calibration": ("exodeepfinder.events.calibrate", "fit_calibration"),
    "add_confidence": ("exodeepfinder.events.calibrate", "add_confidence"),
    "read_calibration": ("exodeepfinder.events.calibrate", "read_calibration"),
    "write_calibration": ("exodeepfinder.events.calibrate", "write_calibration"),
    "evaluate": ("exodeepfinder.events.evaluate", "match_events"),
    "events_to_labels": ("exodeepfinder.events.targets", "events_to_labels"),
    "detect_spots": ("exodeepfinder.training_data.spots", "detect_spots"),
    "merge_detector_expert": ("exodeepfinder.training_data.merge", "merge_detector_expert"),
    "structure_training_dataset": ("exodeepfinder.training_data.dataset", "structure_training_dataset"),
    "train": ("exodeepfinder.training", "train"),
    "adapt": ("exodeepfinder.adapt", "adapt"),
    "ReviewedMovie": ("exodeepfinder.adapt", "ReviewedMovie"),
    "simulate": ("exodeepfinder.simulation", "simulate_movie"),
    "simulate_randomized": ("exodeepfinder.simulation", "simulate_randomized"),
    "analyse_cell": ("exodeepfinder.analysis.cells", "analyse_cell"),
    "classify_events": ("exodeepfinder.analysis.types", "classify_events"),
    "compare_conditions": ("exodeepfinder.analysis.conditions", "compare_conditions"),
    "read_mask": ("exodeepfinder.io.masks", "read_mask"),
}

__all__ = sorted(_API) + ["Cancelled", "InputError", "LABELS", "__version__"]


__getattr__, __dir__ = lazy_names(__name__, _API, globals())


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from .analysis.cells import analyse_cell  # noqa: F401
    from .analysis.conditions import compare_conditions  # noqa: F401
    from .analysis.types import classify_events  # noqa: F401
    from .events.calibrate import add_confidence, fit_calibration  # noqa: F401
    from .events.cluster import cluster_events as find_events  # noqa: F401
    from .io.masks import read_mask  # noqa: F401
    from .events.evaluate import match_events as evaluate  # noqa: F401
    from .events.measure import event_trace, measure_events  # noqa: F401
    from .events.score import score_events  # noqa: F401
    from .events.targets import events_to_labels  # noqa: F401
    from .events.calibrate import read_calibration, write_calibration  # noqa: F401
    from .io.events import read_events, write_events  # noqa: F401
    from .io.movie import open_movie, read_movie  # noqa: F401
    from .io.segmentation import read_segmentation, write_segmentation  # noqa: F401
    from .model.download import download_weights  # noqa: F401
    from .model.weights import load_model  # noqa: F401
    from .pipeline import Detection, detect, events_from_segmentation, segment, segment_file  # noqa: F401
    from .simulation import simulate_movie as simulate, simulate_randomized  # noqa: F401
    from .adapt import ReviewedMovie, adapt  # noqa: F401
    from .training import train  # noqa: F401
    from .training_data.dataset import structure_training_dataset  # noqa: F401
    from .training_data.merge import merge_detector_expert  # noqa: F401
    from .training_data.spots import detect_spots  # noqa: F401
