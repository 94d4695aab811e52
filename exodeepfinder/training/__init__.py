"""Training of the U-Net: recipes, patch sampling, losses, staged training, time budgets, history.

:func:`train` trains from a dataset folder (what ``edf_train``, the GUI and ``exodeepfinder.train``
run); the pieces (:class:`Trainer`, :class:`PatchSampler`, the losses) work on arrays;
:mod:`~exodeepfinder.training.distributed` runs :func:`train` in several processes (one per GPU).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

# Public name -> module. Imported on first use, so that importing the recipes (e.g. for
# ``edf_train --help``) does not import PyTorch.
_API = {
    "train": "run",
    "LOSSES": "recipe", "RECIPES": "recipe", "Recipe": "recipe", "DEFAULT": "recipe", "REFERENCE": "recipe",
    "get_recipe": "recipe",
    "expand_stages": "stages", "Stage": "stages", "StepInfo": "trainer", "Trainer": "trainer",
    "TimeBudget": "budget",
    "PatchSampler": "sampling",
    "TrainingMovie": "data", "prepare_movie": "data",
    "tversky_loss": "loss", "dice_ce_loss": "loss",
    "EpochRecord": "history", "History": "history", "read_history": "history", "save_history": "history",
    "plot_history": "history",
}

__all__ = list(_API)


__getattr__, __dir__ = lazy_names(__name__, _API, globals())


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from .budget import TimeBudget  # noqa: F401
    from .data import TrainingMovie, prepare_movie  # noqa: F401
    from .history import EpochRecord, History, plot_history, read_history, save_history  # noqa: F401
    from .loss import dice_ce_loss, tversky_loss  # noqa: F401
    from .recipe import DEFAULT, LOSSES, RECIPES, REFERENCE, Recipe, get_recipe  # noqa: F401
    from .run import train  # noqa: F401
    from .sampling import PatchSampler  # noqa: F401
    from .stages import Stage, expand_stages  # noqa: F401
    from .trainer import StepInfo, Trainer  # noqa: F401
