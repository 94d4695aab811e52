"""Train the U-Net on patches: the reference recipe, staged, on CPU (bfloat16) or GPU (mixed precision).

The recipe (ExoDeepFinder / DeepFinder): batches of patches drawn around annotated objects with
equal numbers per class (:mod:`~exodeepfinder.training.sampling`), the Tversky loss with
alpha = beta = 0.5 summed over the classes (:mod:`~exodeepfinder.training.loss`), Adam with
learning rate 1e-4, and after each epoch a validation on ``steps_per_valid`` batches of the
validation movies: loss, voxel accuracy and per-class precision, recall and F1. Training runs
in stages (patch size, batch size, random shift, epochs, steps per epoch), each stage starting
from the weights the previous one left.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..model.precision import autocast_dtype, check_precision
from ..progress import report
from .history import EpochRecord, History
from .loss import tversky_loss
from .metrics import class_scores
from .sampling import PatchSampler

N_CLASSES = 3


@dataclass(frozen=True)
class Stage:
    """One training stage: cubic patches of ``patch_size``, ``n_epochs`` epochs of ``n_steps`` batches."""

    patch_size: int
    batch_size: int
    random_shift: int
    n_epochs: int
    n_steps: int


def expand_stages(patch_sizes, batch_sizes, random_shifts, n_epochs, n_steps) -> list[Stage]:
    """Build the stages from per-stage lists (or single values); shorter lists repeat their last value.

    >>> [s.patch_size for s in expand_stages([8, 16], 32, [4], 10, 100)]
    [8, 16]
    >>> expand_stages([8, 16], [256, 128], 4, 10, 100)[1].batch_size
    128
    """
    lists = {
        "patch_sizes": patch_sizes, "batch_sizes": batch_sizes, "random_shifts": random_shifts,
        "n_epochs": n_epochs, "n_steps": n_steps,
    }
    lists = {name: [int(v) for v in np.atleast_1d(values)] for name, values in lists.items()}
    for name, values in lists.items():
        if not values:
            raise ValueError(f"{name}: give at least one value")
    n_stages = max(len(values) for values in lists.values())

    def value(name, i):
        values = lists[name]
        return values[min(i, len(values) - 1)]

    stages = []
    for i in range(n_stages):
        stage = Stage(value("patch_sizes", i), value("batch_sizes", i), value("random_shifts", i),
                      value("n_epochs", i), value("n_steps", i))
        if stage.patch_size < 4 or stage.patch_size % 4:
            raise ValueError(f"patch_sizes: {stage.patch_size} is not a multiple of 4 (the network halves "
                             "y and x twice)")
        for name, number, low in (("batch_sizes", stage.batch_size, 1), ("random_shifts", stage.random_shift, 0),
                                  ("n_epochs", stage.n_epochs, 1), ("n_steps", stage.n_steps, 1)):
            if number < low:
                raise ValueError(f"{name}: must be at least {low}, got {number}")
        stages.append(stage)
    return stages


def keras_initialization(model) -> None:
    """Initialise like Keras' defaults (Glorot-uniform kernels, zero biases), as the reference network."""
    import torch

    with torch.no_grad():
        for conv in model.convs:
            torch.nn.init.xavier_uniform_(conv.weight)
            torch.nn.init.zeros_(conv.bias)


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


class Trainer:
    """Trains a U-Net on training movies, validating on validation movies.

    Parameters
    ----------
    model : UNet
        The network, built with ``softmax=True`` or ``False`` (the loss applies the softmax itself).
    train_movies, valid_movies : list of TrainingMovie
        See :func:`exodeepfinder.training.data.prepare_movie`.
    learning_rate : float
        Adam's learning rate (reference: 1e-4).
    device : torch.device or str
        Where to train.
    precision : {"fast", "fp32"}
        ``"fast"``: bfloat16 autocast on CPUs that compute it natively, mixed precision on CUDA
        (bfloat16, else float16 with loss scaling); float32 elsewhere. ``"fp32"``: float32.
    seed : int or None
        Seed of the patch draws (training and validation) and of the augmentation. (The
        initial weights are the caller's.)
    """

    def __init__(self, model, train_movies, valid_movies, *, learning_rate: float = 1e-4, device="cpu",
                 precision: str = "fast", seed=None):
        import torch

        check_precision(precision)
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.train_movies = list(train_movies)
        self.valid_movies = list(valid_movies)
        self.learning_rate = float(learning_rate)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=self.learning_rate)
        self.autocast_dtype = self._autocast_dtype(precision)
        self.scaler = None
        if self.autocast_dtype == torch.float16 and self.device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")
        self.channels_last = self.device.type in ("cpu", "cuda")
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last_3d)
        seeds = np.random.SeedSequence(seed)
        self.rng = np.random.default_rng(seeds)
        self._valid_seed = int(seeds.generate_state(1)[0])

    def _autocast_dtype(self, precision):
        return autocast_dtype(self.device, precision)

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
    def _to_device(self, batch):
        import torch

        frames = torch.from_numpy(batch.frames)
        labels = torch.from_numpy(batch.labels)
        if self.device.type == "cuda":
            frames, labels = frames.pin_memory(), labels.pin_memory()
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

    def _forward(self, frames):
        with self._autocast():
            outputs = self.model(frames)
        if not getattr(self.model, "softmax", True):
            import torch

            outputs = torch.softmax(outputs.float(), dim=1)
        return outputs.float()

    def train_step(self, batch) -> tuple[float, float]:
        """One optimizer step on ``batch``; return its loss and voxel accuracy."""
        import torch

        self.model.train()
        frames, labels = self._to_device(batch)
        self.optimizer.zero_grad(set_to_none=True)
        probabilities = self._forward(frames)
        loss = tversky_loss(probabilities, labels)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            accuracy = (probabilities.argmax(dim=1) == labels).float().mean()
        return float(loss.detach()), float(accuracy)

    def validate(self, batches) -> dict:
        """Loss (mean over batches), accuracy and per-class scores over all voxels of ``batches``."""
        import torch

        self.model.eval()
        losses, confusion = [], np.zeros((N_CLASSES, N_CLASSES), np.int64)
        with torch.inference_mode():
            for batch in batches:
                frames, labels = self._to_device(batch)
                probabilities = self._forward(frames)
                losses.append(float(tversky_loss(probabilities, labels)))
                predicted = probabilities.argmax(dim=1)
                pairs = labels.long().flatten() * N_CLASSES + predicted.flatten()
                confusion += torch.bincount(pairs, minlength=N_CLASSES * N_CLASSES).cpu().numpy().reshape(
                    N_CLASSES, N_CLASSES)
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

    def fit(self, stages, *, steps_per_valid: int = 10, history: History | None = None,
            progress=None, on_step: Callable | None = None, on_epoch: Callable | None = None) -> History:
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

        Returns
        -------
        History
        """
        history = History() if history is None else History(history)
        total_steps = sum(s.n_epochs * s.n_steps for s in stages)
        epoch_ends = [int(e) for e in np.cumsum([s.n_epochs for s in stages])]
        if len(history) > epoch_ends[-1]:
            raise ValueError(f"history holds {len(history)} epochs, the stages only {epoch_ends[-1]}")
        done_steps = int(sum(s.n_steps * min(max(len(history) - (end - s.n_epochs), 0), s.n_epochs)
                             for s, end in zip(stages, epoch_ends)))
        report(progress, done_steps, total_steps)
        for stage_index, stage in enumerate(stages):
            first_epoch = epoch_ends[stage_index] - stage.n_epochs  # epochs before this stage
            if len(history) >= epoch_ends[stage_index]:
                continue
            sampler = PatchSampler(self.train_movies, stage.patch_size, stage.random_shift, self.rng)
            valid_batches = self.validation_batches(stage, steps_per_valid)
            for epoch_in_stage in range(len(history) - first_epoch, stage.n_epochs):
                started = time.perf_counter()
                losses, accuracies = [], []
                for step in range(stage.n_steps):
                    loss, accuracy = self.train_step(sampler.sample(stage.batch_size))
                    losses.append(loss)
                    accuracies.append(accuracy)
                    done_steps += 1
                    if on_step is not None:
                        on_step(StepInfo(stage_index + 1, len(stages), len(history) + 1, epoch_in_stage + 1,
                                         step + 1, stage.n_steps, loss, float(np.mean(losses))))
                    report(progress, done_steps, total_steps)
                valid = self.validate(valid_batches) if valid_batches else None
                nan3 = np.full(N_CLASSES, np.nan)
                record = EpochRecord(
                    stage=stage_index + 1, epoch=len(history) + 1, patch_size=stage.patch_size,
                    batch_size=stage.batch_size, random_shift=stage.random_shift,
                    learning_rate=self.learning_rate, loss=float(np.mean(losses)),
                    acc=float(np.mean(accuracies)),
                    val_loss=valid["loss"] if valid else float("nan"),
                    val_acc=valid["accuracy"] if valid else float("nan"),
                    val_precision=valid["precision"] if valid else nan3,
                    val_recall=valid["recall"] if valid else nan3,
                    val_f1=valid["f1"] if valid else nan3,
                    seconds=time.perf_counter() - started)
                history.append(record)
                if on_epoch is not None:
                    on_epoch(record, history, epoch_in_stage + 1 == stage.n_epochs)
        return history
