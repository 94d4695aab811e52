"""Per-frame intensity normalisation: the network's input contract, kept beside the model
(:mod:`exodeepfinder.model.normalize`); this module keeps the old import path."""

from ..model.normalize import normalize_frames  # noqa: F401
