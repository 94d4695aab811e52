"""Training of the U-Net: patch sampling, the Tversky loss, staged training, history and outputs.

``run_training`` trains from a dataset folder (what ``edf_train`` and the GUI call); the pieces
(:class:`Trainer`, :class:`PatchSampler`, :func:`tversky_loss`) work on arrays.
"""

from .data import TrainingMovie, prepare_movie
from .history import History, plot_history, read_history, save_history
from .loss import tversky_loss
from .run import run_training
from .sampling import PatchSampler
from .trainer import Stage, Trainer, expand_stages

__all__ = ["run_training", "expand_stages", "Stage", "Trainer", "PatchSampler", "TrainingMovie", "prepare_movie",
           "tversky_loss", "History", "read_history", "save_history", "plot_history"]
