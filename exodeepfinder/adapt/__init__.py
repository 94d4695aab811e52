"""Adapt the detector to a user's own movies from their corrections (issue 27): ``exodeepfinder adapt``.

:func:`adapt` takes reviewed movies (:class:`ReviewedMovie`: a movie and its corrected events)
and returns an :class:`AdaptedModel` whose ``save(folder)`` writes a model folder
(:mod:`~exodeepfinder.model.folder`) that ``detect -mw folder`` and ``load_model(folder)``
accept. :func:`adapt_folders` does the same from a batch folder of reviewed movie folders.
"""

from .core import AdaptedModel, ReviewedMovie, adapt, format_card
from .files import adapt_folders, read_reviewed_folders

__all__ = ["adapt", "adapt_folders", "read_reviewed_folders", "AdaptedModel", "ReviewedMovie", "format_card"]
