"""Simulated TIRF movies of exocytosis with their ground truth.

- :func:`simulate_movie`: one movie from explicit parameters (the defaults: the movies the
  bundled model was trained on);
- :func:`random_parameters`, :func:`simulate_randomized`: domain randomisation, the parameters
  drawn from :data:`DEFAULT_RANGES`;
- :func:`simulate_to_folder`: a movie and its truth written as a user's movie folder.
"""

from .folder import OUTPUT_FILES, simulate_to_folder  # noqa: F401
from .randomize import DEFAULT_RANGES, DISTRACTOR_RANGES, random_parameters, simulate_randomized  # noqa: F401
from .simulate import CAMERAS, EVENT_KINDS, SPOT_COLUMNS, SPOT_KINDS, Simulation, simulate_movie  # noqa: F401
