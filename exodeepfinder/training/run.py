"""Train from a dataset folder into an output folder: what ``edf_train`` and the GUI run.

Outputs (in the output folder):

- ``net_weights_epoch<N>.h5``: weights every ``checkpoint_every`` epochs of a stage and at the
  end of each stage (``N`` counts epochs over all stages);
- ``net_weights_FINAL.h5``: the weights after the last stage;
- ``net_train_history.h5`` (updated every epoch) and ``net_train_history_plot.png`` (at every
  checkpoint and at the end): see :mod:`~exodeepfinder.training.history`;
- ``net_train_state.pt``: optimizer and random-generator state at the last checkpoint, which
  ``resume=True`` continues from.

Weights files use the Keras 2 HDF5 layout of the official weights: ``edf_segment``, this
package's loader and the reference ExoDeepFinder tools all read them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

from ..errors import InputError
from ..io.atomic import atomic_output
from .dataset import check_patch_sizes, load_movies, memory_available, scan_dataset
from .history import History, read_history, save_history, save_history_plot
from .trainer import Stage, Trainer, keras_initialization

FINAL_WEIGHTS = "net_weights_FINAL.h5"
HISTORY = "net_train_history.h5"
HISTORY_PLOT = "net_train_history_plot.png"
STATE = "net_train_state.pt"
#: Normalised movies (float16) and targets (int8) stay in memory below this share of free memory.
MEMORY_SHARE = 0.5


def checkpoint_name(epoch: int) -> str:
    return f"net_weights_epoch{epoch}.h5"


def _save_state(path: Path, state: dict) -> None:
    import torch

    with atomic_output(path) as tmp:
        torch.save(state, tmp)


def _load_state(path: Path) -> dict:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which one
        raise InputError(f"{path}: not a readable training state ({err})") from None


def _stage_dicts(stages) -> list[dict]:
    return [dict(vars(stage)) for stage in stages]


def _check_output(output: Path, *, resume: bool, overwrite: bool) -> None:
    previous = [output / name for name in (HISTORY, STATE, FINAL_WEIGHTS) if (output / name).exists()]
    if resume:
        if not (output / STATE).is_file():
            raise InputError(f"{output}: --resume: no training to resume here ({STATE} not found)")
        if not (output / HISTORY).is_file():
            raise InputError(f"{output}: --resume: {HISTORY} is missing")
    elif previous and not overwrite:
        raise InputError(f"{output}: already holds a training run ({previous[0].name}); use --resume to continue "
                         "it or --overwrite to start again")


def _storage_folder(train_files, valid_files, output: Path, storage: str):
    """Folder for memory maps of the normalised movies, or None to keep them in memory."""
    if storage == "memory":
        return None
    if storage == "auto":
        needed = sum(3 * m.shape[0] * m.shape[1] * m.shape[2] for m in train_files + valid_files)
        available = memory_available()
        if available is None or needed <= MEMORY_SHARE * available:
            return None
    elif storage != "disk":
        raise ValueError(f"storage: expected 'auto', 'memory' or 'disk', got {storage!r}")
    return Path(tempfile.mkdtemp(prefix=".edf_train_cache_", dir=output))


def run_training(dataset, output, stages: list[Stage], *, learning_rate: float = 1e-4, steps_per_valid: int = 10,
                 weights_path=None, resume: bool = False, overwrite: bool = False, device="auto",
                 precision: str = "fast", seed=None, checkpoint_every: int = 10, storage: str = "auto",
                 progress=None, on_step: Callable | None = None, log: Callable[[str], None] | None = None) -> History:
    """Train the U-Net on a dataset folder and write weights, history and plot to ``output``.

    Parameters
    ----------
    dataset : path
        Folder with ``train/`` and ``valid/`` (see :mod:`~exodeepfinder.training.dataset`).
    output : path
        Folder for the outputs (created if needed).
    stages : list of Stage
        See :func:`~exodeepfinder.training.trainer.expand_stages`.
    learning_rate : float
        Adam's learning rate (reference 1e-4).
    steps_per_valid : int
        Validation batches per epoch (reference 10).
    weights_path : path, optional
        Start from these weights (Keras HDF5, e.g. the official ``net_weights_FINAL.h5``) instead
        of a random initialisation (fine-tuning).
    resume : bool
        Continue the run of ``output`` from its last checkpoint: weights, optimizer and random
        state are restored and the history is cut back to that epoch, so each epoch appears once.
        The stages must be those of the stopped run.
    overwrite : bool
        Start a new run in a folder that holds one (its files are replaced as they are written).
    device : str or torch.device
        'auto', 'cpu', 'cuda' or 'mps'.
    precision : {"fast", "fp32"}
        See :class:`~exodeepfinder.training.trainer.Trainer`.
    seed : int, optional
        Seed of the initial weights, the patch draws and the augmentation.
    checkpoint_every : int
        Save weights every this many epochs of a stage (and at the end of each stage).
    storage : {"auto", "memory", "disk"}
        Where the normalised movies are kept while training: in memory, or in memory maps in
        a temporary folder of ``output`` (deleted at the end); "auto" uses memory when they
        take less than half of the free memory.
    progress : callable, optional
        ``progress(done_steps, total_steps)`` over all stages; returning False cancels after the
        current step (raises :class:`~exodeepfinder.errors.Cancelled`; the last checkpoint can
        then be resumed).
    on_step : callable, optional
        ``on_step(StepInfo)`` after every training step (running loss, position).
    log : callable, optional
        ``log(message)`` for one-line messages (files read, checkpoints, summaries).

    Returns
    -------
    History
        All epochs of the run (including those done before a resume).
    """
    import torch

    from ..model.keras_weights import load_keras_weights, save_keras_weights
    from ..model.unet import UNet
    from ..model.weights import pick_device

    log = log or (lambda message: None)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a folder")
    train_files, valid_files = scan_dataset(dataset)
    check_patch_sizes(train_files + valid_files, [s.patch_size for s in stages])
    _check_output(output, resume=resume, overwrite=overwrite)
    if weights_path is not None and not Path(weights_path).is_file():
        raise InputError(f"{weights_path}: weights file not found")
    device = pick_device(device) if isinstance(device, str) else torch.device(device)
    state = None
    if resume:
        state = _load_state(output / STATE)
        if state.get("stages") != _stage_dicts(stages):
            raise InputError(f"{output}: --resume: the stopped run used other stages "
                             f"({state.get('stages')}); give the same patch sizes, batch sizes, random shifts, "
                             "epochs and steps")
        if not (output / state["weights"]).is_file():
            raise InputError(f"{output / state['weights']}: checkpoint to resume from is missing")
    output.mkdir(parents=True, exist_ok=True)

    if seed is not None:
        torch.manual_seed(int(seed))
    model = UNet(softmax=False)
    keras_initialization(model)
    if state is not None:
        load_keras_weights(model, output / state["weights"])
        log(f"resuming from {state['weights']} (epoch {state['epochs']})")
    elif weights_path is not None:
        load_keras_weights(model, weights_path)
        log(f"starting from the weights {weights_path}")

    n_train = sum(m.shape[0] for m in train_files)
    n_valid = sum(m.shape[0] for m in valid_files)
    log(f"{len(train_files)} training movie(s) ({n_train} frames, "
        f"{sum(m.n_objects[1] for m in train_files)} bright spots, {sum(m.n_objects[2] for m in train_files)} events); "
        f"{len(valid_files)} validation movie(s) ({n_valid} frames, "
        f"{sum(m.n_objects[2] for m in valid_files)} events)")
    cache = _storage_folder(train_files, valid_files, output, storage)
    if cache is not None:
        log(f"the movies do not fit in memory: normalised copies are kept in {cache} during training")
    train_movies = valid_movies = []
    try:
        train_movies = load_movies(train_files, cache_folder=cache)
        valid_movies = load_movies(valid_files, cache_folder=cache)
        trainer = Trainer(model, train_movies, valid_movies, learning_rate=learning_rate, device=device,
                          precision=precision, seed=seed)
        history = History()
        if state is not None:
            trainer.load_state_dict(state["trainer"])
            history = read_history(output / HISTORY)[:state["epochs"]]
            if len(history) != state["epochs"]:
                raise InputError(f"{output / HISTORY}: holds {len(history)} epochs, the checkpoint "
                                 f"{state['epochs']}")
        dtype = str(trainer.autocast_dtype).replace("torch.", "") if trainer.autocast_dtype else "float32"
        log(f"training on {device} ({dtype}): " + "; ".join(
            f"stage {i + 1}: patch {s.patch_size}, batch {s.batch_size}, shift {s.random_shift}, "
            f"{s.n_epochs} x {s.n_steps} steps" for i, s in enumerate(stages)))

        def on_epoch(record, history, stage_done):
            save_history(history, output / HISTORY)
            epoch_in_stage = record.epoch - sum(s.n_epochs for s in stages[:record.stage - 1])
            f1 = ", ".join(f"{v:.3f}" for v in record.val_f1)
            log(f"epoch {record.epoch} (stage {record.stage}): loss {record.loss:.4f}, "
                f"val_loss {record.val_loss:.4f}, val_acc {record.val_acc:.4f}, val_f1 [{f1}] "
                f"({record.seconds:.1f} s)")
            if stage_done or epoch_in_stage % checkpoint_every == 0:
                name = checkpoint_name(record.epoch)
                save_keras_weights(trainer.model, output / name)
                _save_state(output / STATE, {"weights": name, "epochs": len(history),
                                             "stages": _stage_dicts(stages), "trainer": trainer.state_dict(),
                                             "learning_rate": learning_rate, "seed": seed})
                save_history_plot(history, output / HISTORY_PLOT)

        history = trainer.fit(stages, steps_per_valid=steps_per_valid, history=history, progress=progress,
                              on_step=on_step, on_epoch=on_epoch)
    finally:
        for movie in train_movies + valid_movies:
            movie.close()
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)
    save_keras_weights(trainer.model, output / FINAL_WEIGHTS)
    save_history(history, output / HISTORY)
    save_history_plot(history, output / HISTORY_PLOT)
    log(f"wrote {output / FINAL_WEIGHTS}, {HISTORY} and {HISTORY_PLOT}")
    return history
