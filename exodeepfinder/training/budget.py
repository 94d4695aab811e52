"""Fit a training run into a time budget (``edf_train --max_minutes``).

The stages keep their shape (patch size, batch size, random shift, steps per epoch) and the
proportions of their epochs; one factor scales the epochs of all stages so that the run ends
within the budget. The factor comes from the measured speed: after the first few steps of
each stage (the very first step of a stage, which allocates memory and picks kernels, is not
counted) and again after every epoch, the remaining epochs are re-planned from the seconds
per step measured so far and the time left, so a machine that slows down (other jobs) or a
stage that runs slower than estimated still ends in time. Stages not yet run are estimated
from the last measured one, in proportion to the voxels of a batch.

When even one epoch of every remaining stage would not fit, the steps per epoch are scaled
down too (never below one step).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace

#: Steps of a stage timed before its epochs are planned (the first one is not counted).
CALIBRATION_STEPS = 3
#: Time kept for writing the final weights, history and plot: a share of the budget, at least this.
RESERVE_SHARE, RESERVE_SECONDS = 0.01, 5.0
#: A validation batch costs about this many training steps of the same shape (forward only).
VALIDATION_COST = 0.4
#: Margin on the estimated speed of a stage not measured yet.
UNMEASURED_MARGIN = 1.15


def batch_voxels(stage) -> int:
    return stage.batch_size * stage.patch_size ** 3


def scale_epochs(costs: list[tuple[float, float, int]], seconds: float) -> list[int] | None:
    """Scale requested epochs by the largest common factor that fits in ``seconds``.

    ``costs`` holds ``(epochs, seconds_per_epoch, minimum)`` per stage (``epochs`` as requested,
    ``minimum`` the epochs a stage cannot go below). Returns ``max(minimum, floor(f * epochs))``
    for each stage with the largest ``f`` whose total fits; None if even the minima do not fit.

    >>> scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 30.0)
    [10, 10]
    >>> scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 16.4)  # 5 + 5 epochs take 15 s; 6 + 6 would take 18
    [5, 5]
    """

    def epochs(factor):
        return [max(minimum, math.floor(factor * requested + 1e-9)) for requested, _, minimum in costs]

    def cost(factor):
        return sum(n * per_epoch for n, (_, per_epoch, _) in zip(epochs(factor), costs))

    if cost(0.0) > seconds:
        return None
    low, high = 0.0, 1.0
    while cost(high) <= seconds and high < 1e6:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if cost(middle) <= seconds else (low, middle)
    return epochs(low)


class TimeBudget:
    """Re-plans the stages of a run so that it ends ``seconds`` after ``started``.

    Parameters
    ----------
    seconds : float
        The budget (wall clock), counted from ``started``.
    requested : list of Stage
        The stages as asked for: their epochs give the proportions kept when scaling.
    steps_per_valid : int
        Validation batches per epoch (their time is counted).
    clock : callable
        Returns the time in seconds (``time.monotonic``; tests pass a fake clock).
    started : float, optional
        When the budget started on ``clock`` (default: now). Data loading before training counts.
    log : callable, optional
        ``log(message)``: the plan made when a stage has been calibrated.
    """

    def __init__(self, seconds: float, requested, *, steps_per_valid: int = 10, clock=time.monotonic,
                 started: float | None = None, log=None):
        if not seconds > 0:
            raise ValueError(f"max_minutes: must be positive, got {seconds / 60:g}")
        self.clock = clock
        self.deadline = (clock() if started is None else started) + float(seconds)
        self.reserve = max(RESERVE_SHARE * seconds, RESERVE_SECONDS)
        self.requested = list(requested)
        self.stages = list(requested)
        self.steps_per_valid = int(steps_per_valid)
        self.step_seconds = {}      # stage index -> seconds of its timed steps
        self.epoch_overheads = {}   # stage index -> seconds of each epoch beyond its steps
        self._steps_seen = {}
        self.log = log

    def seconds_left(self) -> float:
        return self.deadline - self.clock() - self.reserve

    # -- measurements ---------------------------------------------------------------------------
    def record_step(self, stage_index: int, seconds: float) -> bool:
        """Note the duration of a training step; True when the stage has just been calibrated (re-plan now)."""
        seen = self._steps_seen.get(stage_index, 0) + 1
        self._steps_seen[stage_index] = seen
        if seen > 1:  # the first step of a stage allocates and selects kernels
            self.step_seconds.setdefault(stage_index, []).append(float(seconds))
        return seen == CALIBRATION_STEPS

    def record_epoch(self, stage_index: int, overhead_seconds: float) -> None:
        """Note the seconds an epoch spent beyond its steps (validation, checkpoints, history)."""
        self.epoch_overheads.setdefault(stage_index, []).append(float(overhead_seconds))

    def seconds_per_step(self, stage_index: int, stages) -> float:
        """Measured seconds per step of a stage, or an estimate from the closest measured stage."""
        if self.step_seconds.get(stage_index):
            times = self.step_seconds[stage_index]
            return sum(times) / len(times)
        measured = [i for i in self.step_seconds if self.step_seconds[i]]
        if not measured:
            raise ValueError("no training step measured yet")
        reference = min(measured, key=lambda i: (abs(i - stage_index), -i))
        per_voxel = self.seconds_per_step(reference, stages) / batch_voxels(stages[reference])
        return UNMEASURED_MARGIN * per_voxel * batch_voxels(stages[stage_index])

    def seconds_per_epoch(self, stage_index: int, stages) -> float:
        stage = stages[stage_index]
        step = self.seconds_per_step(stage_index, stages)
        if self.epoch_overheads.get(stage_index):
            overhead = sum(self.epoch_overheads[stage_index]) / len(self.epoch_overheads[stage_index])
        else:
            overhead = VALIDATION_COST * self.steps_per_valid * step
        return stage.n_steps * step + overhead

    # -- planning -------------------------------------------------------------------------------
    def replan(self, stages, stage_index: int, epochs_done: int, steps_done: int) -> list:
        """New stages for the time left, during stage ``stage_index``.

        ``epochs_done`` epochs of that stage are finished and ``steps_done`` steps of the next
        one (the epoch under way, which is always finished). Earlier stages are kept; later
        stages keep at least one epoch of at least one step.
        """
        stages = list(stages)
        per_epoch = [self.seconds_per_epoch(i, stages) for i in range(len(stages))]
        seconds = self.seconds_left()
        if steps_done:
            seconds -= per_epoch[stage_index] - steps_done * self.seconds_per_step(stage_index, stages)
        begun = epochs_done + (1 if steps_done else 0)  # epochs of this stage that will have run anyway
        later = range(stage_index + 1, len(stages))
        costs = [(self.requested[stage_index].n_epochs, per_epoch[stage_index], begun)]
        costs += [(self.requested[i].n_epochs, per_epoch[i], 1) for i in later]
        epochs = scale_epochs(costs, seconds + begun * per_epoch[stage_index])
        if epochs is not None:
            for i, n_epochs in zip(range(stage_index, len(stages)), epochs):
                stages[i] = replace(stages[i], n_epochs=n_epochs)
        else:
            stages = self._fewer_steps(stages, stage_index, epochs_done, steps_done, per_epoch)
        self.stages = stages
        if self.log is not None and epochs_done == 0 and steps_done == CALIBRATION_STEPS:
            plan = ", ".join(f"{s.n_epochs} x {s.n_steps}" for s in stages[stage_index:])
            self.log(f"stage {stage_index + 1}: {self.seconds_per_step(stage_index, stages):.2f} s per step; "
                     f"{self.seconds_left() / 60:.1f} min left: epochs x steps of stage {stage_index + 1} on: {plan}")
        return stages

    def _fewer_steps(self, stages, stage_index: int, epochs_done: int, steps_done: int, per_epoch) -> list:
        """One epoch per later stage, the steps per epoch scaled down to fit the time left.

        The stage under way shrinks too if it is in its first epoch (all epochs of a stage
        have the same number of steps); otherwise it ends with the epoch under way.
        """
        seconds = self.seconds_left()
        shrink = [i for i in range(stage_index + (0 if epochs_done == 0 else 1), len(stages))]
        if epochs_done:  # finish the epoch under way, then stop this stage
            step = self.seconds_per_step(stage_index, stages)
            seconds -= per_epoch[stage_index] - steps_done * step if steps_done else 0.0
            stages[stage_index] = replace(stages[stage_index], n_epochs=epochs_done + (1 if steps_done else 0))
        costs = []
        for i in shrink:
            step = self.seconds_per_step(i, stages)
            seconds -= per_epoch[i] - stages[i].n_steps * step  # validation and checkpoints
            minimum = max(steps_done, 1) if i == stage_index else 1
            if i == stage_index:
                seconds += steps_done * step  # already spent
            costs.append((stages[i].n_steps, step, minimum))
        steps = scale_epochs(costs, max(seconds, 0.0)) or [minimum for _, _, minimum in costs]
        for i, n_steps in zip(shrink, steps):
            stages[i] = replace(stages[i], n_epochs=1, n_steps=n_steps)
        return stages
