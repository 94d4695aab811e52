"""The whole analysis of a movie: segmentation, events, measurements.

:func:`segment` labels every voxel of a movie; :func:`events_from_segmentation` clusters the
event voxels of a segmentation into events, measures and scores them in the movie;
:func:`detect` does both. :func:`segment_file` and :func:`detect_file` run them on a movie
file and write their outputs, what ``edf_segment`` and ``exodeepfinder detect`` run per movie.
All take a model from :func:`~exodeepfinder.model.weights.load_model`, or load the default one.

Modules: :mod:`.segmentation` (the network's labels), :mod:`.events` (from labels to events),
:mod:`.detection` (both, in memory or streamed to a file), :mod:`.files` (movie files in,
output files out).
"""

from ..inference.memory import IN_MEMORY_BYTES, in_memory_limit
from .detection import Detection, detect
from .events import DEFAULT_MIN_SIZE, events_from_segmentation
from .files import DETECTION_OUTPUTS, detect_file, segment_file
from .segmentation import iter_segment, segment

__all__ = ["DEFAULT_MIN_SIZE", "DETECTION_OUTPUTS", "Detection", "IN_MEMORY_BYTES", "detect", "detect_file",
           "events_from_segmentation", "in_memory_limit", "iter_segment", "segment", "segment_file"]
