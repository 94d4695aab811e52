"""Train the ExoDeepFinder U-Net on a training dataset (train/ and valid/ folders).

The dataset is what edf_structure_training_dataset makes: <movie>.h5, <movie>_target.h5 and
<movie>_objl.xml for each movie. Training runs in stages, one per entry of --patch_sizes,
--batch_sizes and --random_shifts (a shorter list repeats its last value), each starting from
the weights of the previous stage. --loss picks the recipe: dice_ce (default: Dice +
cross-entropy, learns from random weights; stages 16 32, batches 16 4) or tversky (the reference
ExoDeepFinder recipe, number for number; stages 8 16 32 48, batches 256 128 32 10, 100 epochs of
100 steps; the default when fine-tuning --weights_path). --max_minutes scales the epochs of every
stage, from the measured speed, to end in that time. Writes to --output: net_weights_epoch<N>.h5
every 10 epochs, net_weights_FINAL.h5, net_train_history.h5 and net_train_history_plot.png;
--resume continues a stopped run after
its last finished epoch. Lists may be written 8 16 32, 8,16,32 or [8,16,32].
Several GPUs: --gpus G starts one training process per GPU of this machine (DistributedDataParallel;
each process draws its own batches, so a step trains on G x --batch_sizes patches), or run
torchrun --nproc_per_node G -m exodeepfinder.train with the same options (also across machines).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..model.precision import TRAINING_PRECISIONS
from ._common import add_device_argument, add_overwrite_argument, add_precision_argument, execute, run_command

NAME = "train"
BATCH_PATHS = None
STAGE_OPTIONS = ("patch_sizes", "batch_sizes", "random_shifts", "n_epochs", "n_steps")


def int_list(text: str) -> list[int]:
    """Parse ``"[8,16]"``, ``"8,16"`` or ``"8"`` into a list of ints."""
    parts = str(text).replace("[", " ").replace("]", " ").replace(",", " ").split()
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a list of whole numbers: {text!r}") from None


def _values(args, name: str) -> list[int] | None:
    """The list given to ``--name``, or None when the option was not given (the recipe's default)."""
    tokens = getattr(args, name)
    if tokens is None:
        return None
    values = []
    for token in tokens:
        try:
            values += int_list(token)
        except ValueError as err:
            raise InputError(f"--{name}: {err}") from None
    if not values:
        raise InputError(f"--{name}: give at least one value")
    return values


def add_arguments(parser):
    from ..training.recipe import LOSSES

    parser.add_argument("-d", "--dataset", type=Path, required=True,
                        help="training dataset folder, with train/ and valid/")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="folder for the weights, the history and its plot (created if needed)")
    parser.add_argument("--loss", choices=LOSSES, default=None,
                        help=f"the training recipe, named after its loss: {LOSSES[0]} (default from random weights) "
                             "or tversky (the reference ExoDeepFinder recipe; default with --weights_path, as "
                             "fine-tuning with the other destroys what the weights know)")
    parser.add_argument("--max_minutes", type=float, default=None,
                        help="end within this many minutes: the epochs of every stage are scaled from the "
                             "measured speed")
    parser.add_argument("-ps", "--patch_sizes", nargs="+", default=None,
                        help="patch size (frames = pixels, multiple of 4) of each stage (default: the recipe's)")
    parser.add_argument("-bs", "--batch_sizes", nargs="+", default=None,
                        help="patches per batch of each stage (default: the recipe's)")
    parser.add_argument("-rs", "--random_shifts", nargs="+", default=None,
                        help="largest random shift (voxels per axis) of a patch from its object, per stage "
                             "(default: the recipe's)")
    parser.add_argument("-ne", "--n_epochs", nargs="+", default=None, help="epochs of each stage (default: the recipe's)")
    parser.add_argument("-ns", "--n_steps", nargs="+", default=None,
                        help="training batches per epoch (default: the recipe's)")
    parser.add_argument("-spv", "--steps_per_valid", type=int, default=10, help="validation batches per epoch")
    parser.add_argument("-lr", "--learning_rate", type=float, default=None,
                        help="Adam learning rate, the peak of the schedule (default: the recipe's)")
    parser.add_argument("-wp", "--weights_path", type=Path, default=None,
                        help="start from these weights (e.g. the official net_weights_FINAL.h5) instead of "
                             "random ones")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run stopped in --output after its last finished epoch")
    parser.add_argument("--seed", type=int, default=None, help="seed of the initial weights and of the patch draws")
    add_precision_argument(parser, "fast: bfloat16 on CPUs that compute it natively, mixed precision on CUDA; "
                                   "fp32: float32", choices=TRAINING_PRECISIONS)
    parser.add_argument("--checkpoint_every", type=int, default=10, help="save the weights every N epochs")
    add_device_argument(parser)
    add_overwrite_argument(parser)
    group = parser.add_argument_group("several GPUs (DistributedDataParallel)")
    group.add_argument("--gpus", type=int, default=None,
                       help="train with this many processes on this machine, one per GPU; each draws its own "
                            "batches, so a step trains on gpus x --batch_sizes patches (without a GPU, only with "
                            "--ddp_backend gloo: as many CPU processes). Under torchrun, leave it out")
    group.add_argument("--ddp_backend", choices=("nccl", "gloo"), default=None,
                       help="how the processes of --gpus or torchrun exchange gradients (default: nccl on CUDA "
                            "GPUs, else gloo)")


class EpochBars:
    """A tqdm bar per epoch with the running loss (the ``on_step`` of the training)."""

    def __init__(self):
        self._bar = None

    def __call__(self, info) -> None:
        from tqdm.auto import tqdm

        if self._bar is None:
            self._bar = tqdm(total=info.n_steps, unit="step", dynamic_ncols=True, leave=False,
                             desc=f"stage {info.stage}/{info.n_stages} epoch {info.epoch}")
        self._bar.total = info.n_steps  # --max_minutes may shorten the first epoch
        self._bar.update(1)
        self._bar.set_postfix(loss=f"{info.running_loss:.4f}", refresh=False)
        if info.step >= info.n_steps:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _check_numbers(args) -> None:
    for name, low in (("steps_per_valid", 0), ("checkpoint_every", 1)):
        if getattr(args, name) < low:
            raise InputError(f"--{name}: must be at least {low}")
    for name in ("learning_rate", "max_minutes"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise InputError(f"--{name}: must be positive, got {value:g}")


def _stages(args) -> dict:
    """The stage options given (None: the recipe's), checked."""
    from ..training.recipe import get_recipe
    from ..training.stages import expand_stages

    stages = {name: _values(args, name) for name in STAGE_OPTIONS}
    defaults = get_recipe(args.loss).stage_options()
    try:  # the stage options' own errors, named by their flags
        expand_stages(**{name: defaults[name] if value is None else value for name, value in stages.items()})
    except ValueError as err:
        raise InputError(f"--{err}") from None
    return stages


def _device_type(args) -> str:
    """'cuda' or 'cpu': where the processes of a multi-process run train."""
    from ..model.weights import pick_device

    device = pick_device(args.device).type
    if device not in ("cuda", "cpu"):
        raise InputError(f"--device {device}: several training processes need CUDA GPUs or CPUs")
    if device == "cpu" and args.ddp_backend == "nccl":
        raise InputError("--ddp_backend nccl: needs CUDA GPUs; use gloo on CPUs")
    return device


def run(args):
    from ..model.weights import require_torch
    from ..training.distributed import launched

    require_torch("train")
    _check_numbers(args)
    stages = _stages(args)
    if args.gpus is not None and args.gpus < 1:
        raise InputError(f"--gpus: must be at least 1, got {args.gpus}")
    if launched():  # one of the processes of torchrun (or of --gpus)
        if args.gpus is not None:
            raise InputError("--gpus: not with torchrun, which starts the processes (--nproc_per_node)")
        _train_in_process_group(args, stages)
    elif args.gpus is not None and args.gpus > 1:
        _start_processes(args, stages)
    else:
        _train(args, stages)


def _train(args, stages, main: bool = True) -> None:
    from ..training import train

    bars = EpochBars()
    try:
        history = train(args.dataset, args.output, **stages, loss=args.loss, max_minutes=args.max_minutes,
                        learning_rate=args.learning_rate, steps_per_valid=args.steps_per_valid,
                        weights_path=args.weights_path, resume=args.resume, overwrite=args.overwrite,
                        device=args.device, precision=args.precision, seed=args.seed, on_step=bars,
                        log=lambda message: print(message, flush=True), checkpoint_every=args.checkpoint_every)
    finally:
        bars.close()
    if main:
        print(f"done: {len(history)} epochs; last validation F1 (background, spot, event): "
              + ", ".join(f"{v:.3f}" for v in history[-1].val_f1))


def _train_in_process_group(args, stages) -> None:
    from ..training.distributed import process_group

    with process_group(args.ddp_backend, _device_type(args)) as ranks:
        _train(args, stages, main=ranks.main)


def _start_processes(args, stages) -> None:
    """``--gpus G``: G processes on this machine, each running this command as torchrun would."""
    from ..training.distributed import ProcessFailed, run_in_processes
    from ..training.run import check_training

    device = _device_type(args)
    if device == "cpu" and args.ddp_backend != "gloo":
        raise InputError(f"--gpus: no CUDA GPU here; to train with {args.gpus} CPU processes (e.g. to test), "
                         "add --ddp_backend gloo")
    if device == "cuda":
        import torch

        if torch.cuda.device_count() < args.gpus:
            raise InputError(f"--gpus: {args.gpus} GPUs asked for, PyTorch sees {torch.cuda.device_count()}")
    # the errors every process would meet, said once, before any process starts
    check_training(args.dataset, args.output, **stages, loss=args.loss, weights_path=args.weights_path,
                   resume=args.resume, overwrite=args.overwrite, checkpoint_every=args.checkpoint_every)
    arguments = {name: value for name, value in vars(args).items() if name != "_module"}
    try:
        run_in_processes(_run_process, args.gpus, arguments, backend=args.ddp_backend, device_type=device)
    except ProcessFailed as err:  # its own error is printed above
        raise InputError(f"--gpus: {err}") from None


def _run_process(ranks, arguments: dict) -> None:
    """One process of ``--gpus``: the command, as run by torchrun."""
    args = argparse.Namespace(**{**arguments, "gpus": None, "_module": sys.modules[__name__]})
    status = execute(sys.modules[__name__], args)
    if status:
        sys.exit(status)


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
