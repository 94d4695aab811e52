"""ExoDeepFinder: detect exocytosis events in TIRF microscopy movies.

A PyTorch re-implementation of ExoDeepFinder (Lachuer, Moebel et al., PLOS Comput Biol 2025).
The pipeline, one sub-package per step:

- :mod:`exodeepfinder.io` -- movies (HDF5, TIFF), segmentations, event lists (XML, CSV), figures
- :mod:`exodeepfinder.model` -- the 3D U-Net and its weights
- :mod:`exodeepfinder.inference` -- tiled segmentation of a movie
- :mod:`exodeepfinder.events` -- label maps to events, events to targets, evaluation
- :mod:`exodeepfinder.training_data` -- spot detection, merging, dataset layout
- :mod:`exodeepfinder.training` -- training the U-Net
- :mod:`exodeepfinder.pipeline` -- the whole analysis: segmentation, events, measurements
- :mod:`exodeepfinder.plots` -- figures of movies, segmentations and events
- :mod:`exodeepfinder.simulation` -- simulated TIRF movies with ground truth
- :mod:`exodeepfinder.cli` -- command-line tools
"""

__version__ = "0.1.0"

from .errors import Cancelled, InputError  # noqa: E402,F401
