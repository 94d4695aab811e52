"""--max_minutes: the epochs of the stages scaled from the measured speed, checked with a fake clock."""

import numpy as np
import pytest

from exodeepfinder.io.events import make_events
from exodeepfinder.model import UNet
from exodeepfinder.training.budget import RESERVE_SECONDS, TimeBudget, scale_epochs
from exodeepfinder.training.data import prepare_movie
from exodeepfinder.training.recipe import DEFAULT
from exodeepfinder.training.trainer import Stage, Trainer


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_epochs_are_scaled_by_the_largest_factor_that_fits():
    # two stages of 10 epochs, 1 s and 2 s per epoch: 30 s for all, 15 s for half
    assert scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 30.0) == [10, 10]
    assert scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 15.0) == [5, 5]
    assert scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 300.0) == [100, 100]
    # epochs are whole: 16.4 s does not buy a sixth epoch of both
    assert scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 16.4) == [5, 5]
    # 10 and 5 epochs requested: 17 s buys 9 + 4 (17 s)
    assert scale_epochs([(10, 1.0, 1), (5, 2.0, 1)], 17.0) == [9, 4]
    assert scale_epochs([(10, 1.0, 1), (10, 2.0, 1)], 2.0) is None  # not even one epoch each
    assert scale_epochs([(10, 1.0, 4), (10, 2.0, 1)], 6.5) == [4, 1]  # the minima, no more


def test_plan_after_calibration_fills_the_budget():
    clock = FakeClock()
    requested = [Stage(16, 16, 6, 60, 50), Stage(32, 4, 12, 20, 50)]
    budget = TimeBudget(25 * 60, requested, steps_per_valid=10, clock=clock, started=clock.now)
    clock.now += 60  # loading the data
    for seconds in (5.0, 1.0, 1.0):  # the first step of a stage (warm-up) is not counted
        clock.now += seconds
        calibrated = budget.record_step(0, seconds)
    assert calibrated
    stages = budget.replan(requested, 0, epochs_done=0, steps_done=3)
    # stage 2 is estimated from stage 1 per voxel (twice the voxels per batch), with a 15 % margin
    assert budget.seconds_per_step(1, stages) == pytest.approx(2 * 1.15)
    epochs = [s.n_epochs for s in stages]
    assert [s.n_steps for s in stages] == [50, 50] and [s.patch_size for s in stages] == [16, 32]
    planned = (epochs[0] * 50 - 3) * 1.0 + epochs[0] * 10 * 0.4 * 1.0 + epochs[1] * 50 * 2.3 * (1 + 10 * 0.4 / 50)
    left = 25 * 60 - 60 - 7 - max(0.01 * 25 * 60, RESERVE_SECONDS)
    assert planned <= left and planned > left - 60  # full to within about one epoch
    assert epochs[0] / epochs[1] == pytest.approx(3, rel=0.1)  # the proportions of 60 and 20 epochs


def _tiny_trainer(seed=0):
    rng = np.random.default_rng(seed)
    movie = rng.random((24, 24, 24)).astype(np.float32)
    labels = np.zeros(movie.shape, np.int8)
    labels[movie > 0.9] = 1
    labels[10:12, 10:13, 10:13] = 2
    prepared = prepare_movie("noise", movie, labels, make_events([11, 5], [11, 5], [11, 5], class_label=[2, 1]))
    return Trainer(UNet(softmax=False), [prepared], [prepared], recipe=DEFAULT, precision="fp32", seed=seed)


def _fake_speed(trainer, clock, seconds_per_step, seconds_per_valid_batch=0.4):
    """Make every training step and validation batch take fake time (the real work is tiny)."""
    train_step, validate = trainer.train_step, trainer.validate

    def timed_step(batch, learning_rate=None):
        clock.now += seconds_per_step(batch)
        return train_step(batch, learning_rate=learning_rate)

    def timed_validate(batches):
        clock.now += seconds_per_valid_batch * len(batches)
        return validate(batches)

    trainer.train_step, trainer.validate = timed_step, timed_validate


@pytest.mark.parametrize("slow_down", [1.0, 2.0])
def test_training_ends_within_the_budget_with_every_stage(slow_down):
    # stage 2 runs at 3 s per step where the per-voxel estimate says 3.9; with slow_down=2 the
    # machine gets twice as slow after 20 steps (other jobs): the run still ends in time
    clock = FakeClock()
    trainer = _tiny_trainer()
    steps = []

    def seconds_per_step(batch):
        steps.append(batch[0].shape[-1])
        factor = slow_down if len(steps) > 20 else 1.0
        return factor * (1.0 if batch[0].shape[-1] == 8 else 3.0)

    _fake_speed(trainer, clock, seconds_per_step)
    requested = [Stage(8, 2, 2, 30, 5), Stage(12, 2, 2, 10, 5)]
    budget = TimeBudget(200, requested, steps_per_valid=2, clock=clock, started=clock.now)
    history = trainer.fit(requested, steps_per_valid=2, planner=budget)
    used = clock.now - (budget.deadline - 200)
    assert used <= 200 - RESERVE_SECONDS
    assert used >= 200 - RESERVE_SECONDS - 2 * (5 * 3.0 * slow_down + 0.8)  # within two epochs of the end
    stages = list(history["stage"])
    assert stages.count(1) >= 1 and stages.count(2) >= 1 and stages == sorted(stages)
    assert [s.n_epochs for s in budget.stages] == [stages.count(1), stages.count(2)]


def test_a_budget_too_short_for_one_epoch_per_stage_shortens_the_epochs():
    clock = FakeClock()
    trainer = _tiny_trainer()
    _fake_speed(trainer, clock, lambda batch: 1.0, seconds_per_valid_batch=0.0)
    requested = [Stage(8, 2, 2, 30, 50), Stage(12, 2, 2, 10, 50)]
    budget = TimeBudget(RESERVE_SECONDS + 10, requested, steps_per_valid=0, clock=clock, started=clock.now)
    history = trainer.fit(requested, steps_per_valid=0, planner=budget)
    # 3 calibration steps of stage 1, then 10 - 3 s for the rest: one epoch per stage, steps cut
    assert [(s.n_epochs, s.n_steps) for s in budget.stages][0][0] == 1
    assert list(history["stage"]) == [1, 2]
    assert clock.now - (budget.deadline - RESERVE_SECONDS - 10) <= RESERVE_SECONDS + 10 + 3.0  # at most a calibration over
