"""Train the U-Net on patches, in stages, on CPU or GPU (mixed precision where the hardware has it).

A :class:`Trainer` runs a :class:`~exodeepfinder.training.recipe.Recipe` (loss, learning-rate
schedule, patch sampling) on normalised training movies: batches of patches drawn around
annotated objects (:mod:`~exodeepfinder.training.sampling`), Adam, and after each epoch a
validation on ``steps_per_valid`` batches of the validation movies: loss, voxel accuracy and
per-class precision, recall and F1. Training runs in stages (patch size, batch size, random
shift, epochs, steps per epoch), each stage starting from the weights the previous one left.
With a :class:`~exodeepfinder.training.budget.TimeBudget`, the epochs of the stages are
re-planned from the measured speed so that training ends in time.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..labels import N_CLASSES
from ..model.precision import TRAINING_PRECISIONS, autocast_dtype, check_precision
from ..progress import report
from .batches import BatchPrefetcher, SerialBatches
from .distributed import SINGLE, Ranks, rank_seed_sequence
from .history import EpochRecord, History
# the initialisation and the stages live in their own modules; they stay importable from here
from .initialization import class_frequencies, keras_initialization, set_prior_bias  # noqa: F401
from .loss import LOSS_FUNCTIONS
from .metrics import class_scores
from .recipe import REFERENCE, Recipe, learning_rate_factor
from .sampling import PatchSampler
from .stages import Stage, expand_stages  # noqa: F401


@dataclass
class StepInfo:
    """Passed to ``on_step`` after every training step."""

    stage: int
    n_stages: int
    epoch: int
    epoch_in_stage: int
    step: int
    n_steps: int
    loss: float
    running_loss: float
    learning_rate: float = float("nan")
    seconds: float = float("nan")


class Trainer:
    """Trains a U-Net on training movies with a recipe, validating on validation movies.

    Parameters
    ----------
    model : UNet
        The network, built with ``softmax=False`` (the losses take logits) or ``True``.
    train_movies, valid_movies : list of TrainingMovie
        See :func:`exodeepfinder.training.data.prepare_movie`.
    recipe : Recipe, optional
        Loss, learning-rate schedule and patch sampling (default: the reference recipe).
    learning_rate : float, optional
        Peak learning rate (default: the recipe's).
    device : torch.device or str
        Where to train.
    precision : {"fast", "fp32"}
        ``"fast"``: bfloat16 autocast on CPUs that compute it natively, mixed precision on CUDA
        (bfloat16, else float16 with loss scaling); float32 elsewhere. ``"fp32"``: float32.
    seed : int or None
        Seed of the patch draws (training and validation) and of the augmentation. (The
        initial weights are the caller's.)
    prefetch : bool
        Draw the next batch in a background thread while the network works on this one.
    ranks : Ranks, optional
        This process's place among several training processes (see
        :mod:`~exodeepfinder.training.distributed`); default: a single process.
    """

    def __init__(self, model, train_movies, valid_movies, *, recipe: Recipe | None = None,
                 learning_rate: float | None = None, device="cpu", precision: str = "fast", seed=None,
                 prefetch: bool = True, ranks: Ranks | None = None):
        import torch

        check_precision(precision, TRAINING_PRECISIONS)
        self.recipe = REFERENCE if recipe is None else recipe
        self.loss_function = LOSS_FUNCTIONS[self.recipe.loss]
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.train_movies = list(train_movies)
        self.valid_movies = list(valid_movies)
        self.learning_rate = float(self.recipe.learning_rate if learning_rate is None else learning_rate)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)
        self.autocast_dtype = autocast_dtype(self.device, precision)
        self.scaler = None
        if self.autocast_dtype == torch.float16 and self.device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")
        self.channels_last = self.device.type in ("cpu", "cuda")
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last_3d)
        self.ranks = SINGLE if ranks is None else ranks
        # the network the training steps run: the model, or the model in DistributedDataParallel
        # (same parameters; rank 0's initial weights are copied to every rank)
        self.network = self.ranks.wrap(self.model, self.device)
        self.prefetch = prefetch
        if seed is None:  # fresh entropy; rank 0's for all ranks, so that they share the validation batches
            seed = self.ranks.broadcast(np.random.SeedSequence().entropy)
        self.rng = np.random.default_rng(rank_seed_sequence(seed, self.ranks.rank))
        self._valid_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])

    # -- state, for resuming ------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Optimizer and random generator states (the weights are saved separately)."""
        state = {"optimizer": self.optimizer.state_dict(), "rng": json.dumps(self.rng.bit_generator.state)}
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        for group in self.optimizer.param_groups:
            group["lr"] = self.learning_rate
        self.rng.bit_generator.state = json.loads(state["rng"])
        if self.scaler is not None and "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])

    # -- one step -----------------------------------------------------------------------------
    def _tensors(self, batch):
        """Batch as tensors in the layout the network runs fastest in (still in CPU memory)."""
        import torch

        frames, labels = torch.from_numpy(batch.frames), torch.from_numpy(batch.labels)
        if self.device.type == "cuda":
            frames, labels = frames.pin_memory(), labels.pin_memory()
        elif self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last_3d)
        return frames, labels

    def _to_device(self, tensors):
        import torch

        frames, labels = tensors
        if frames.device != self.device:
            frames = frames.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            if self.channels_last:
                frames = frames.contiguous(memory_format=torch.channels_last_3d)
        return frames, labels

    def _autocast(self):
        import torch

        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def _logits(self, frames, network=None):
        """Class logits (float32) of a batch; a model with a softmax output gives log-probabilities."""
        import torch

        with self._autocast():
            outputs = (self.model if network is None else network)(frames)
        outputs = outputs.float()
        if getattr(self.model, "softmax", False):
            outputs = torch.log(outputs.clamp_min(1e-12))
        return outputs

    def train_step(self, batch, learning_rate: float | None = None) -> tuple[float, float]:
        """One optimizer step on ``batch`` (a Batch, or the tensors of one); return its loss and voxel accuracy."""
        import torch

        self.model.train()
        if learning_rate is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate
        frames, labels = self._to_device(batch if isinstance(batch, tuple) else self._tensors(batch))
        self.optimizer.zero_grad(set_to_none=True)
        logits = self._logits(frames, self.network)
        loss = self.loss_function(logits, labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).sum() / labels.numel()
        return float(loss.detach()), float(accuracy)

    def validate(self, batches) -> dict:
        """Loss (mean over batches), accuracy and per-class scores over all voxels of ``batches``.

        With several processes, each scores its share of ``batches`` (the same on every rank) and
        every rank returns the scores of all of them.
        """
        import torch

        self.model.eval()
        batches = list(batches)
        losses, confusion = {}, np.zeros((N_CLASSES, N_CLASSES), np.int64)
        mine = range(self.ranks.rank, len(batches), self.ranks.world_size)
        with torch.inference_mode():
            for index in mine:
                frames, labels = self._to_device(self._tensors(batches[index]))
                logits = self._logits(frames)
                losses[index] = float(self.loss_function(logits, labels))
                pairs = labels.long().flatten() * N_CLASSES + logits.argmax(dim=1).flatten()
                confusion += torch.bincount(pairs, minlength=N_CLASSES * N_CLASSES).cpu().numpy().reshape(
                    N_CLASSES, N_CLASSES)
        if self.ranks.distributed:
            shares = self.ranks.gather((losses, confusion))
            losses = {index: loss for share, _ in shares for index, loss in share.items()}
            confusion = sum(share for _, share in shares)
        losses = [losses[index] for index in sorted(losses)]  # in batch order: the same mean as one process
        scores = class_scores(confusion)
        scores["loss"] = float(np.mean(losses)) if losses else float("nan")
        return scores

    # -- stages -------------------------------------------------------------------------------
    def validation_batches(self, stage: Stage, n_batches: int) -> list:
        """The validation batches of a stage: the same patches every epoch (comparable scores)."""
        if not self.valid_movies or n_batches <= 0:
            return []
        rng = np.random.default_rng([self._valid_seed, stage.patch_size, stage.batch_size, stage.random_shift])
        sampler = PatchSampler(self.valid_movies, stage.patch_size, stage.random_shift, rng, augment=False)
        return [sampler.sample(stage.batch_size) for _ in range(n_batches)]

    def training_batches(self, sampler: PatchSampler, batch_size: int, n_batches: int):
        """The batches of an epoch: an iterable with a ``close()``."""
        make_batch = lambda: self._tensors(sampler.sample(batch_size))  # noqa: E731
        if self.prefetch:
            return BatchPrefetcher(make_batch, n_batches)
        return SerialBatches(make_batch, n_batches)

    def fit(self, stages, *, steps_per_valid: int = 10, history: History | None = None, progress=None,
            on_step: Callable | None = None, on_epoch: Callable | None = None, planner=None) -> History:
        """Run the stages, continuing after the epochs already in ``history``.

        Parameters
        ----------
        stages : list of Stage
        steps_per_valid : int
            Validation batches per epoch.
        history : History, optional
            Epochs already done (when resuming): training continues with the next epoch.
        progress : callable, optional
            ``progress(done_steps, total_steps)`` over the training steps of all stages;
            returning False cancels (raises :class:`~exodeepfinder.errors.Cancelled`) between steps.
        on_step : callable, optional
            ``on_step(StepInfo)`` after every step (e.g. to show the running loss).
        on_epoch : callable, optional
            ``on_epoch(record, history, stage_done)`` after every epoch, once it is in ``history``
            (e.g. to save checkpoints); ``stage_done`` is True on the last epoch of a stage.
        planner : TimeBudget, optional
            Re-plans the epochs (and steps) of the stages from the measured speed, to end in time.

        Returns
        -------
        History
        """
        run = _Run(self, list(stages), History() if history is None else History(history), steps_per_valid,
                   progress, on_step, on_epoch, planner)
        return run.fit()


class _Run:
    """One call of :meth:`Trainer.fit`: the loop over stages, epochs and steps, and its bookkeeping."""

    def __init__(self, trainer, stages, history, steps_per_valid, progress, on_step, on_epoch, planner):
        self.trainer, self.stages, self.history = trainer, stages, history
        self.steps_per_valid, self.progress, self.on_step, self.on_epoch = steps_per_valid, progress, on_step, on_epoch
        self.planner = planner
        # the planner's clock times the steps (a test gives a fake one)
        self.clock = planner.clock if planner is not None else time.perf_counter
        if len(history) > self.epoch_end(len(stages) - 1):
            raise ValueError(f"history holds {len(history)} epochs, the stages only {self.epoch_end(len(stages) - 1)}")
        self.done_steps = int(sum(s.n_steps * min(max(len(history) - (self.epoch_end(i) - s.n_epochs), 0), s.n_epochs)
                                  for i, s in enumerate(stages)))

    def epoch_end(self, stage_index: int) -> int:
        """Number of epochs at the end of stage ``stage_index``."""
        return sum(s.n_epochs for s in self.stages[:stage_index + 1])

    @property
    def total_steps(self) -> int:
        return sum(s.n_epochs * s.n_steps for s in self.stages)

    def fit(self) -> History:
        report(self.progress, self.done_steps, self.total_steps)
        stage_index = 0
        while stage_index < len(self.stages):
            if len(self.history) < self.epoch_end(stage_index):
                self.run_stage(stage_index)
            stage_index += 1
        return self.history

    def run_stage(self, stage_index: int) -> None:
        trainer, stage = self.trainer, self.stages[stage_index]
        sampler = PatchSampler(trainer.train_movies, stage.patch_size, stage.random_shift, trainer.rng,
                               **trainer.recipe.sampler_options(stage.patch_size))
        valid_batches = trainer.validation_batches(stage, self.steps_per_valid)
        while len(self.history) < self.epoch_end(stage_index):
            started = self.clock()
            losses, accuracies = self.run_epoch(stage_index, sampler)
            if trainer.ranks.distributed:  # the epoch's steps on all ranks
                shares = trainer.ranks.gather((losses, accuracies))
                losses = [loss for share, _ in shares for loss in share]
                accuracies = [accuracy for _, share in shares for accuracy in share]
            steps_seconds = self.clock() - started
            valid = trainer.validate(valid_batches) if valid_batches else None
            record = self.epoch_record(stage_index, losses, accuracies, valid, self.clock() - started)
            self.history.append(record)
            stage_done = len(self.history) == self.epoch_end(stage_index)
            if self.on_epoch is not None:
                self.on_epoch(record, self.history, stage_done)
            if self.planner is not None:
                self.planner.record_epoch(stage_index, self.clock() - started - steps_seconds)
                if not stage_done:
                    self.replan(stage_index, steps_done=0)

    def run_epoch(self, stage_index: int, sampler) -> tuple[list, list]:
        trainer, stage = self.trainer, self.stages[stage_index]
        epoch_in_stage = len(self.history) - (self.epoch_end(stage_index) - stage.n_epochs)
        losses, accuracies = [], []
        batches = trainer.training_batches(sampler, stage.batch_size, stage.n_steps)
        try:
            last = self.clock()
            for step, batch in enumerate(batches):
                rate = trainer.learning_rate * learning_rate_factor(self.done_steps, self.total_steps, trainer.recipe)
                loss, accuracy = trainer.train_step(batch, learning_rate=rate)
                losses.append(loss)
                accuracies.append(accuracy)
                self.done_steps += 1
                now = self.clock()
                seconds, last = now - last, now  # waiting for the batch included
                n_steps = self.stages[stage_index].n_steps
                if self.on_step is not None:
                    self.on_step(StepInfo(stage_index + 1, len(self.stages), len(self.history) + 1, epoch_in_stage + 1,
                                          step + 1, n_steps, loss, float(np.mean(losses)), rate, seconds))
                if self.planner is not None and self.planner.record_step(stage_index, seconds):
                    self.replan(stage_index, steps_done=step + 1)
                report(self.progress, self.done_steps, self.total_steps)
                if step + 1 >= self.stages[stage_index].n_steps:  # a re-plan may shorten the epoch
                    break
        finally:
            batches.close()
        return losses, accuracies

    def replan(self, stage_index: int, steps_done: int) -> None:
        """Let the planner change the epochs (and steps) of this stage and the next ones."""
        epochs_done = len(self.history) - (self.epoch_end(stage_index) - self.stages[stage_index].n_epochs)
        self.stages = self.planner.replan(self.stages, stage_index, epochs_done, steps_done)
        if self.trainer.ranks.distributed:  # measured speeds differ a little: all ranks follow rank 0's plan
            self.stages = self.planner.stages = self.trainer.ranks.broadcast(self.stages)
        self.done_steps = int(sum(s.n_epochs * s.n_steps for s in self.stages[:stage_index])
                              + epochs_done * self.stages[stage_index].n_steps + steps_done)

    def epoch_record(self, stage_index, losses, accuracies, valid, seconds) -> EpochRecord:
        stage, nan3 = self.stages[stage_index], np.full(N_CLASSES, np.nan)
        return EpochRecord(
            stage=stage_index + 1, epoch=len(self.history) + 1, patch_size=stage.patch_size,
            batch_size=stage.batch_size, random_shift=stage.random_shift,
            learning_rate=self.trainer.optimizer.param_groups[0]["lr"], loss=float(np.mean(losses)),
            acc=float(np.mean(accuracies)),
            val_loss=valid["loss"] if valid else float("nan"), val_acc=valid["accuracy"] if valid else float("nan"),
            val_precision=valid["precision"] if valid else nan3, val_recall=valid["recall"] if valid else nan3,
            val_f1=valid["f1"] if valid else nan3, seconds=seconds)
