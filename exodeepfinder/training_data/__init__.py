"""Training-set preparation: bright-spot detection, merge with the expert annotation, dataset layout.

The chain for each movie folder: ``detect_spots`` (built-in Atlas detector, or an external one)
-> ``merge_detector_expert`` (detector spots = class 1, expert events = class 2) ->
``structure_training_dataset`` (train/ and valid/ folders that ``edf_train`` reads).
"""

from .dataset import DatasetLayout, split_movies, structure_training_dataset
from .merge import merge_detector_expert
from .spots import detect_spots, select_scale

__all__ = ["detect_spots", "select_scale", "merge_detector_expert", "structure_training_dataset",
           "split_movies", "DatasetLayout"]
