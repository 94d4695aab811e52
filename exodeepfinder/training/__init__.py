"""Training of the U-Net: recipes, patch sampling, losses, staged training, time budgets, history.

:func:`train` trains from a dataset folder (what ``edf_train``, the GUI and ``exodeepfinder.train``
run); the pieces (:class:`Trainer`, :class:`PatchSampler`, the losses) work on arrays.
"""

from .budget import TimeBudget
from .data import TrainingMovie, prepare_movie
from .history import EpochRecord, History, plot_history, read_history, save_history
from .loss import dice_ce_loss, tversky_loss
from .recipe import DEFAULT, LOSSES, RECIPES, REFERENCE, Recipe, get_recipe
from .run import train
from .sampling import PatchSampler
from .trainer import Stage, StepInfo, Trainer, expand_stages

__all__ = ["train", "LOSSES", "RECIPES", "Recipe", "DEFAULT", "REFERENCE", "get_recipe", "expand_stages", "Stage",
           "StepInfo", "Trainer", "TimeBudget", "PatchSampler", "TrainingMovie", "prepare_movie", "tversky_loss",
           "dice_ce_loss", "EpochRecord", "History", "read_history", "save_history", "plot_history"]
