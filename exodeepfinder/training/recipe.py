"""Training recipes: the default one, which learns from random weights, and the reference one.

A recipe is everything about training apart from the data: loss, stages (patch size, batch
size, random shift, epochs, steps), learning rate and its schedule, the initial bias of the
classifier, and how patches are drawn. Recipes are named after their loss, which is what a
user picks (``edf_train --loss tversky`` trains exactly as the reference ExoDeepFinder).
Measurements behind the default: docs/training.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Recipe:
    """How to train (see :data:`RECIPES`).

    Attributes
    ----------
    loss : str
        Key of :data:`~exodeepfinder.training.loss.LOSS_FUNCTIONS`.
    patch_sizes, batch_sizes, random_shifts, n_epochs, n_steps : tuple of int
        Default stages (see :func:`~exodeepfinder.training.stages.expand_stages`).
    learning_rate : float
        Adam's learning rate (the peak of the schedule).
    warmup_steps : int
        The learning rate rises linearly from ``learning_rate / warmup_steps`` to
        ``learning_rate`` over these first steps (at most a tenth of the run).
    schedule : {"constant", "cosine"}
        After the warm-up: constant, or a half cosine down to ``final_learning_rate`` times the
        peak at the last step of the run.
    final_learning_rate : float
        Fraction of the peak reached at the end of a cosine schedule.
    prior_bias : bool
        Initialise the classifier's biases to the log of the class frequencies in the training
        patches (the network then starts predicting those frequencies), instead of zeros.
    background_patches : float
        Fraction of the patches drawn at uniformly random places of the training movies; the
        others are drawn around objects, equally many per class (the reference's "bootstrap").
    outside : float
        Fraction of the patch size by which a patch may reach past the movie (zero-filled, as
        the segmentation pads movies), so that spots present from the first frame on, or
        cut by the edge of the frame, are not taken for events.
    per_track : bool
        Draw the objects of a class per track rather than per frame (see
        :class:`~exodeepfinder.training.sampling.PatchSampler`).
    onsets : float
        Fraction of the draws of each class made among the objects at the first frame of their
        track: where a bright spot appears (a flash, a blink, a vesicle arriving), the moments
        that look most like the start of an event (hard negatives).
    """

    loss: str
    patch_sizes: tuple
    batch_sizes: tuple
    random_shifts: tuple
    n_epochs: tuple
    n_steps: tuple
    learning_rate: float
    warmup_steps: int = 0
    schedule: str = "constant"
    final_learning_rate: float = 0.05
    prior_bias: bool = False
    background_patches: float = 0.0
    outside: float = 0.0
    per_track: bool = False
    onsets: float = 0.0

    def outside_voxels(self, patch_size: int) -> int:
        """Voxels a patch of ``patch_size`` may reach past the movie."""
        return min(int(self.outside * patch_size), patch_size - 1)

    def sampler_options(self, patch_size: int) -> dict:
        """How patches of ``patch_size`` are drawn.

        Keyword arguments of :class:`~exodeepfinder.training.sampling.PatchSampler`.
        """
        return {"background_fraction": self.background_patches, "outside": self.outside_voxels(patch_size),
                "per_track": self.per_track, "onsets": self.onsets}

    def stage_options(self) -> dict:
        """The default stage lists, as keyword arguments of ``expand_stages``."""
        return {"patch_sizes": self.patch_sizes, "batch_sizes": self.batch_sizes,
                "random_shifts": self.random_shifts, "n_epochs": self.n_epochs, "n_steps": self.n_steps}


#: The reference ExoDeepFinder recipe, number for number: Tversky loss (soft Dice of the three
#: classes), Adam 1e-4, Keras initialisation, patches around objects, four stages of 100 x 100 steps.
REFERENCE = Recipe(loss="tversky", patch_sizes=(8, 16, 32, 48), batch_sizes=(256, 128, 32, 10),
                   random_shifts=(4, 8, 16, 32), n_epochs=(100,), n_steps=(100,), learning_rate=1e-4)

#: The default recipe: Dice + cross-entropy, class-prior biases, a higher learning rate with
#: warm-up and cosine decay, a quarter of the patches anywhere and patches reaching past the
#: movie's borders, small cheap patches first; objects drawn per track, a quarter of them where
#: a spot appears (hard negatives: flashes, blinks, arriving vesicles).
DEFAULT = Recipe(loss="dice_ce", patch_sizes=(16, 32), batch_sizes=(16, 4), random_shifts=(6, 12),
                 n_epochs=(60, 20), n_steps=(50,), learning_rate=1e-3, warmup_steps=30, schedule="cosine",
                 prior_bias=True, background_patches=0.25, outside=0.5, per_track=True, onsets=0.25)

#: Recipes by name (the name is the loss; ``LOSSES[0]`` is the default).
RECIPES = {"dice_ce": DEFAULT, "tversky": REFERENCE}
#: Choices of ``--loss`` / ``train(loss=...)``.
LOSSES = tuple(RECIPES)
SCHEDULES = ("constant", "cosine")


#: The recipe of a run that starts from existing weights (fine-tuning) when no loss is named: the
#: one the official weights were trained with. Fine-tuning them with the default recipe's
#: cross-entropy destroys what they know at first (their softmax is saturated, so the first
#: gradients are huge): the validation event F1 fell from 0.19 to 0 in 60 steps, where the
#: reference recipe kept it (tests/test_training_learns.py); the bundled model was made so.
FINE_TUNING_LOSS = "tversky"


def default_loss(*, fine_tuning: bool) -> str:
    """The loss (recipe) used when none is named: :data:`FINE_TUNING_LOSS` from existing weights."""
    return FINE_TUNING_LOSS if fine_tuning else LOSSES[0]


def get_recipe(loss: str | None = None, **changes) -> Recipe:
    """The recipe of ``loss`` (None: the default), with some fields replaced."""
    loss = LOSSES[0] if loss is None else loss
    if loss not in RECIPES:
        raise ValueError(f"loss: expected one of {', '.join(LOSSES)}, got {loss!r}")
    return replace(RECIPES[loss], **changes)


def learning_rate_factor(step: int, total_steps: int, recipe: Recipe) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based) of a run of ``total_steps``.

    >>> recipe = Recipe("dice_ce", (16,), (8,), (4,), (1,), (100,), 1e-3, warmup_steps=10, schedule="cosine",
    ...                 final_learning_rate=0.0)
    >>> [round(learning_rate_factor(s, 100, recipe), 3) for s in (0, 9, 10, 55, 99)]
    [0.1, 1.0, 1.0, 0.5, 0.0]
    """
    warmup = min(int(recipe.warmup_steps), total_steps // 10)
    if step < warmup:
        return (step + 1) / warmup
    if recipe.schedule == "constant":
        return 1.0
    if recipe.schedule != "cosine":
        raise ValueError(f"schedule: expected one of {', '.join(SCHEDULES)}, got {recipe.schedule!r}")
    span = max(total_steps - 1 - warmup, 1)
    done = min(max(step - warmup, 0) / span, 1.0)
    low = recipe.final_learning_rate
    return low + (1 - low) * 0.5 * (1 + math.cos(math.pi * done))
