"""Train from a dataset folder into an output folder: :func:`train`, what ``edf_train`` and the GUI run.

Outputs (in the output folder):

- ``net_weights_epoch<N>.h5``: weights every ``checkpoint_every`` epochs of a stage and at the
  end of each stage (``N`` counts epochs over all stages);
- ``net_weights_FINAL.h5``: the weights after the last stage;
- ``net_train_history.h5`` (updated every epoch) and ``net_train_history_plot.png`` (at every
  checkpoint and at the end): see :mod:`~exodeepfinder.training.history`;
- ``net_train_state.pt``: weights, optimizer and random-generator state after the last
  finished epoch, which ``resume=True`` continues from (a cancelled run loses at most the
  epoch under way).

Run in several processes (``torchrun``, ``edf_train --gpus``), :func:`train` trains with
DistributedDataParallel and only rank 0 writes these files: see
:mod:`~exodeepfinder.training.distributed`.

Weights files use the Keras 2 HDF5 layout of the official weights: ``edf_segment``, this
package's loader and the reference ExoDeepFinder tools all read them.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..io.atomic import atomic_output
from .budget import TimeBudget
from .distributed import Ranks, current_ranks
from .dataset import check_patch_sizes, load_movies, memory_available, scan_dataset
from .history import History, read_history, save_history, save_history_plot
from .recipe import LOSSES, Recipe, default_loss, get_recipe
from .initialization import class_frequencies, keras_initialization, set_prior_bias
from .stages import Stage, expand_stages
from .trainer import Trainer

FINAL_WEIGHTS = "net_weights_FINAL.h5"
HISTORY = "net_train_history.h5"
HISTORY_PLOT = "net_train_history_plot.png"
STATE = "net_train_state.pt"
#: Normalised movies (float16) and targets (int8) stay in memory below this share of free memory.
MEMORY_SHARE = 0.5


def checkpoint_name(epoch: int) -> str:
    return f"net_weights_epoch{epoch}.h5"


def train(dataset, output, *, patch_sizes=None, batch_sizes=None, random_shifts=None, n_epochs=None, n_steps=None,
          loss: str | None = None, max_minutes: float | None = None, learning_rate: float | None = None,
          steps_per_valid: int = 10, weights_path=None, resume: bool = False, overwrite: bool = False,
          device="auto", precision: str = "fast", seed=None, progress=None, on_step: Callable | None = None,
          on_epoch: Callable | None = None, log: Callable[[str], None] | None = None, checkpoint_every: int = 10,
          storage: str = "auto") -> History:
    """Train the U-Net on a dataset folder and write weights, history and plot to ``output``.

    Parameters
    ----------
    dataset, output : path
        Folder with ``train/`` and ``valid/`` (:mod:`~exodeepfinder.training.dataset`); folder of the outputs.
    patch_sizes, batch_sizes, random_shifts, n_epochs, n_steps : int or list of int, optional
        The stages (see :func:`~exodeepfinder.training.stages.expand_stages`); None: the recipe's.
    loss : {"dice_ce", "tversky"}, optional
        The recipe (:data:`~exodeepfinder.training.recipe.RECIPES`), named after its loss.
        "dice_ce": the default, which learns from random weights. "tversky": the reference
        ExoDeepFinder recipe, number for number (its stages, learning rate and initialisation).
        None: "dice_ce", or "tversky" when starting from ``weights_path`` (fine-tuning; see
        :data:`~exodeepfinder.training.recipe.FINE_TUNING_LOSS`), or the stopped run's when resuming.
    max_minutes : float, optional
        End within this many minutes (counted from the call, data loading included): the epochs
        of all stages are scaled from the measured speed (see :mod:`~exodeepfinder.training.budget`).
    learning_rate, steps_per_valid : float, int
        Adam's (peak) learning rate (None: the recipe's); validation batches per epoch (reference 10).
    weights_path : path, optional
        Start from these weights (Keras HDF5, e.g. the official ``net_weights_FINAL.h5``).
    resume : bool
        Continue the run of ``output`` after its last finished epoch (weights, optimizer, random
        state and history restored). Stage options left to None take the stopped run's. ``overwrite``:
        start a new run in a folder that holds one.
    device, precision : str
        'auto', 'cpu', 'cuda' or 'mps'; "fast" or "fp32" (see :class:`~exodeepfinder.training.trainer.Trainer`).
    seed : int, optional
        Seed of the initial weights, the patch draws and the augmentation.
    progress : callable, optional
        ``progress(done_steps, total_steps)`` over all stages; returning False cancels after the
        current step (raises :class:`~exodeepfinder.errors.Cancelled`; ``resume=True`` continues).
    on_step, on_epoch, log : callable, optional
        ``on_step(StepInfo)`` after every training step (loss, running loss, learning rate);
        ``on_epoch(record, history)`` after every epoch (the new :class:`EpochRecord`, the whole
        :class:`History`); ``log(message)`` for one-line messages (files, plan, epochs, checkpoints).
    checkpoint_every : int
        Save weights every this many epochs of a stage (and at the end of each stage).
    storage : {"auto", "memory", "disk"}
        Where the normalised movies are kept: in memory, or memory maps in a work folder of ``output``;
        "auto": memory when they take less than half of the free memory (of all training processes).

    In a multi-process run (e.g. ``torchrun``), every process calls :func:`train` with the same
    arguments (:mod:`~exodeepfinder.training.distributed`); the callbacks run on rank 0 only.

    Returns
    -------
    History
        All epochs of the run (including those done before a resume).
    """
    started = time.monotonic()
    ranks = current_ranks()
    if not ranks.main:  # one process reports
        progress = on_step = on_epoch = log = None
    log = log or (lambda message: None)
    output = Path(output)
    recipe = get_recipe(_loss(loss, output, resume, weights_path))
    options = {"patch_sizes": patch_sizes, "batch_sizes": batch_sizes, "random_shifts": random_shifts,
               "n_epochs": n_epochs, "n_steps": n_steps}
    setup = _prepare(dataset, output, recipe, options, weights_path, resume, overwrite, checkpoint_every)
    _check_world_size(setup, output, ranks)
    planner = None if max_minutes is None else TimeBudget(60.0 * max_minutes, setup.stages,
                                                           steps_per_valid=steps_per_valid, started=started, log=log)
    cache = _storage_folder(setup.train_files, setup.valid_files, output, storage, ranks.local_world_size)
    with _loaded_movies(setup, cache) as (train_movies, valid_movies):
        model = _initial_model(recipe, setup, output, weights_path, seed, train_movies, log)
        trainer = Trainer(model, train_movies, valid_movies, recipe=recipe, learning_rate=learning_rate,
                          device=_device(device, ranks), precision=precision, seed=seed, ranks=ranks)
        history = _restore(trainer, setup, output)
        _log_start(log, setup, trainer, recipe, cache, max_minutes)
        checkpoints = _Checkpoints(output, trainer, setup, planner, checkpoint_every, seed, on_epoch, log)
        history = trainer.fit(setup.stages, steps_per_valid=steps_per_valid, history=history, progress=progress,
                              on_step=on_step, on_epoch=checkpoints, planner=planner)
    return _finish(trainer, history, output, started, log)


def _check_world_size(setup, output: Path, ranks) -> None:
    """InputError when a run is resumed with another number of training processes than it had."""
    if setup.state is not None and setup.state.get("world_size", 1) != ranks.world_size:
        raise InputError(f"{output}: resume: the stopped run had {setup.state.get('world_size', 1)} training "
                         f"process(es), not {ranks.world_size}")


@contextlib.contextmanager
def _loaded_movies(setup, cache):
    """The training and validation movies of ``setup``, closed (and the ``cache`` work folder removed) at the end."""
    from ..io.leases import remove_work_folder

    train_movies = valid_movies = []
    try:
        train_movies = load_movies(setup.train_files, cache_folder=cache)
        valid_movies = load_movies(setup.valid_files, cache_folder=cache)
        yield train_movies, valid_movies
    finally:
        for movie in train_movies + valid_movies:
            movie.close()
        if cache is not None:
            remove_work_folder(cache)


def check_training(dataset, output, *, patch_sizes=None, batch_sizes=None, random_shifts=None, n_epochs=None,
                   n_steps=None, loss: str | None = None, weights_path=None, resume: bool = False,
                   overwrite: bool = False, checkpoint_every: int = 10) -> None:
    """Raise the InputError :func:`train` would raise before reading any movie (e.g. before starting processes).

    The arguments are those of :func:`train`. Creates ``output`` if all is well, as :func:`train` does.
    """
    output = Path(output)
    recipe = get_recipe(_loss(loss, output, resume, weights_path))
    options = {"patch_sizes": patch_sizes, "batch_sizes": batch_sizes, "random_shifts": random_shifts,
               "n_epochs": n_epochs, "n_steps": n_steps}
    _prepare(dataset, output, recipe, options, weights_path, resume, overwrite, checkpoint_every)


@dataclass
class _Setup:
    """What :func:`train` checked before reading any movie."""

    train_files: list
    valid_files: list
    requested: list     # the stages asked for (the proportions kept by max_minutes)
    stages: list        # the stages to run (the stopped run's plan when resuming)
    state: dict | None  # the stopped run's state when resuming
    loss: str


def _loss(loss, output: Path, resume: bool, weights_path) -> str:
    """The loss named, else the stopped run's when resuming, else the default (fine-tuning or not)."""
    if loss is not None:
        return loss
    if resume and _stopped_loss(output) is not None:
        return _stopped_loss(output)
    return default_loss(fine_tuning=weights_path is not None)


def _stopped_loss(output: Path) -> str | None:
    """The loss of the run stopped in ``output`` (to resume it without naming it again)."""
    return _load_state(output / STATE).get("loss") if (output / STATE).is_file() else None


def _prepare(dataset, output: Path, recipe: Recipe, options: dict, weights_path, resume, overwrite,
             checkpoint_every) -> _Setup:
    """Check everything that can be checked before reading the movies; raise InputError on a problem."""
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a folder")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every: must be at least 1, got {checkpoint_every}")
    train_files, valid_files = scan_dataset(dataset)
    _check_output(output, resume=resume, overwrite=overwrite)
    state = _load_state(output / STATE) if resume else None
    if state is not None and all(value is None for value in options.values()):
        requested = [Stage(**stage) for stage in state["requested"]]
    else:
        defaults = recipe.stage_options()
        requested = expand_stages(**{name: defaults[name] if value is None else value
                                     for name, value in options.items()})
    check_patch_sizes(train_files + valid_files, [s.patch_size for s in requested])
    if weights_path is not None and not Path(weights_path).is_file():
        raise InputError(f"{weights_path}: weights file not found")
    stages = requested
    if state is not None:
        if state.get("loss", recipe.loss) != recipe.loss:
            raise InputError(f"{output}: resume: the stopped run used loss {state['loss']!r}, not {recipe.loss!r}")
        if state.get("requested") != _stage_dicts(requested):
            raise InputError(f"{output}: resume: the stopped run used other stages ({state.get('requested')}); give "
                             "the same patch sizes, batch sizes, random shifts, epochs and steps, or none of them")
        stages = [Stage(**stage) for stage in state["stages"]]
    output.mkdir(parents=True, exist_ok=True)
    return _Setup(train_files, valid_files, requested, stages, state, recipe.loss)


def _check_output(output: Path, *, resume: bool, overwrite: bool) -> None:
    previous = [output / name for name in (HISTORY, STATE, FINAL_WEIGHTS) if (output / name).exists()]
    if resume:
        if not (output / STATE).is_file():
            raise InputError(f"{output}: resume: no training to resume here ({STATE} not found)")
        if not (output / HISTORY).is_file():
            raise InputError(f"{output}: resume: {HISTORY} is missing")
    elif previous and not overwrite:
        raise InputError(f"{output}: already holds a training run ({previous[0].name}); resume it or "
                         "overwrite it to start again")


def _initial_model(recipe: Recipe, setup: _Setup, output: Path, weights_path, seed, train_movies, log):
    """The network to start from: the stopped run's, given weights, or random (with class-prior biases)."""
    import torch

    from ..model.arrays import CONV_LEVELS, DEFAULT_WIDTHS, widths_of
    from ..model.keras_weights import load_keras_weights, read_unet_widths
    from ..model.unet import UNet

    if seed is not None:
        torch.manual_seed(int(seed))
    widths = DEFAULT_WIDTHS  # those of the weights it continues from (a compact network's stays compact)
    if setup.state is not None:
        weights = setup.state["weights"]
        widths = read_unet_widths(output / weights) if isinstance(weights, str) else widths_of(
            [(weights[f"convs.{i}.weight"].shape, weights[f"convs.{i}.bias"].shape)
             for i in range(len(CONV_LEVELS))]) or DEFAULT_WIDTHS
    elif weights_path is not None:
        widths = read_unet_widths(weights_path)
    model = UNet(softmax=False, widths=widths)
    keras_initialization(model)
    if setup.state is not None:
        weights = setup.state["weights"]
        if isinstance(weights, str):  # a checkpoint file name (states written before version 2)
            load_keras_weights(model, output / weights)
        else:
            model.load_state_dict(weights)
        log(f"resuming after epoch {setup.state['epochs']}")
    elif weights_path is not None:
        load_keras_weights(model, weights_path)
        log(f"starting from the weights {weights_path}")
    elif recipe.prior_bias:
        first = setup.stages[0]
        frequencies = class_frequencies(train_movies, first.patch_size, first.random_shift,
                                        **recipe.sampler_options(first.patch_size))
        set_prior_bias(model, frequencies)
        log("random initial weights; classifier biases set to the class frequencies of the training patches ("
            + ", ".join(f"{f:.4f}" for f in frequencies) + ")")
    return model


def _device(device, ranks: Ranks):
    """The torch device; with several processes on CUDA, GPU ``local_rank`` of the machine."""
    import torch

    from ..model.weights import pick_device

    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    if ranks.distributed and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", ranks.local_rank)
    return device


def _restore(trainer: Trainer, setup: _Setup, output: Path) -> History:
    """The history so far (empty for a new run); the trainer's state restored when resuming."""
    if setup.state is None:
        return History()
    trainer.load_state_dict(setup.state["trainer"])
    if trainer.ranks.rank > 0:  # each rank continues its own patch draws
        trainer.rng.bit_generator.state = json.loads(setup.state["rngs"][trainer.ranks.rank])
    history = read_history(output / HISTORY)[:setup.state["epochs"]]
    if len(history) != setup.state["epochs"]:
        raise InputError(f"{output / HISTORY}: holds {len(history)} epochs, the checkpoint {setup.state['epochs']}")
    return history


def _log_start(log, setup: _Setup, trainer: Trainer, recipe: Recipe, cache, max_minutes) -> None:
    files = setup.train_files
    log(f"{len(files)} training movie(s) ({sum(m.shape[0] for m in files)} frames, "
        f"{sum(m.n_objects[1] for m in files)} bright spots, {sum(m.n_objects[2] for m in files)} events); "
        f"{len(setup.valid_files)} validation movie(s) ({sum(m.shape[0] for m in setup.valid_files)} frames, "
        f"{sum(m.n_objects[2] for m in setup.valid_files)} events)")
    if cache is not None:
        log(f"the movies do not fit in memory: normalised copies are kept in {cache} during training")
    dtype = str(trainer.autocast_dtype).replace("torch.", "") if trainer.autocast_dtype else "float32"
    if trainer.ranks.distributed:
        log(f"training processes (DistributedDataParallel): {trainer.ranks.world_size}, each drawing its own "
            "batches: a step trains on this many batches at once")
    log(f"training on {trainer.device} ({dtype}), loss {recipe.loss}, learning rate {trainer.learning_rate:g} "
        f"({recipe.schedule}" + (f", {recipe.warmup_steps} warm-up steps" if recipe.warmup_steps else "") + "): "
        + describe_stages(setup.stages)
        + (f"; epochs to be scaled to end within {max_minutes:g} min" if max_minutes is not None else ""))


def describe_stages(stages) -> str:
    return "; ".join(f"stage {i + 1}: patch {s.patch_size}, batch {s.batch_size}, shift {s.random_shift}, "
                     f"{s.n_epochs} x {s.n_steps} steps" for i, s in enumerate(stages))


class _Checkpoints:
    """After every epoch: history and resume state; every ``checkpoint_every`` epochs: weights and plot."""

    def __init__(self, output: Path, trainer: Trainer, setup: _Setup, planner, checkpoint_every, seed, on_epoch, log):
        self.output, self.trainer, self.setup, self.planner = output, trainer, setup, planner
        self.checkpoint_every, self.seed, self.on_epoch, self.log = checkpoint_every, seed, on_epoch, log

    def __call__(self, record, history, stage_done: bool) -> None:
        from ..model.keras_weights import save_keras_weights

        ranks = self.trainer.ranks
        # every rank's patch generator, for resuming (a collective: all ranks take part)
        rngs = ranks.gather(self.trainer.state_dict()["rng"]) if ranks.distributed else None
        if not ranks.main:
            return
        stages = self.planner.stages if self.planner is not None else self.setup.stages
        save_history(history, self.output / HISTORY, overwrite=True)  # this run's own files, every epoch
        f1 = ", ".join(f"{v:.3f}" for v in record.val_f1)
        self.log(f"epoch {record.epoch} (stage {record.stage}): loss {record.loss:.4f}, val_loss {record.val_loss:.4f}, "
                 f"val_acc {record.val_acc:.4f}, val_f1 [{f1}] ({record.seconds:.1f} s)")
        _save_state(self.output / STATE, {
            "version": 2, "weights": self.trainer.model.state_dict(), "epochs": len(history),
            "requested": _stage_dicts(self.setup.requested), "stages": _stage_dicts(stages),
            "trainer": self.trainer.state_dict(), "loss": self.setup.loss, "seed": self.seed,
            **({"world_size": ranks.world_size, "rngs": rngs} if ranks.distributed else {})})
        epoch_in_stage = record.epoch - sum(s.n_epochs for s in stages[:record.stage - 1])
        if stage_done or epoch_in_stage % self.checkpoint_every == 0:
            save_keras_weights(self.trainer.model, self.output / checkpoint_name(record.epoch), overwrite=True)
            save_history_plot(history, self.output / HISTORY_PLOT, overwrite=True)
        if self.on_epoch is not None:
            self.on_epoch(record, history)


def _finish(trainer: Trainer, history: History, output: Path, started: float, log) -> History:
    from ..model.keras_weights import save_keras_weights

    if not trainer.ranks.main:
        return history
    save_keras_weights(trainer.model, output / FINAL_WEIGHTS, overwrite=True)
    save_history(history, output / HISTORY, overwrite=True)
    save_history_plot(history, output / HISTORY_PLOT, overwrite=True)
    log(f"wrote {output / FINAL_WEIGHTS}, {HISTORY} and {HISTORY_PLOT} ({(time.monotonic() - started) / 60:.1f} min)")
    return history


def _save_state(path: Path, state: dict) -> None:
    import torch

    with atomic_output(path, overwrite=True) as tmp:  # the run's resume state, updated as it goes
        torch.save(state, tmp)


def _load_state(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which one
        raise InputError(f"{path}: not a readable training state ({err})") from None


def _stage_dicts(stages) -> list[dict]:
    return [dict(vars(stage)) for stage in stages]


def _storage_folder(train_files, valid_files, output: Path, storage: str, processes: int = 1):
    """Folder for memory maps of the normalised movies, or None to keep them in memory.

    ``processes``: the training processes of this machine, each holding the movies.
    """
    if storage == "memory":
        return None
    if storage == "auto":
        needed = sum(3 * m.shape[0] * m.shape[1] * m.shape[2] for m in train_files + valid_files)
        available = memory_available()
        if available is None or processes * needed <= MEMORY_SHARE * available:
            return None
    elif storage != "disk":
        raise ValueError(f"storage: expected 'auto', 'memory' or 'disk', got {storage!r}")
    from ..io.leases import make_work_folder

    return make_work_folder(output, "edf_train_cache")  # held by a lease: `exodeepfinder clean` after a kill


__all__ = ["train", "check_training", "LOSSES", "FINAL_WEIGHTS", "HISTORY", "HISTORY_PLOT", "STATE", "checkpoint_name",
           "describe_stages"]
