"""Train the ExoDeepFinder U-Net on a training dataset (train/ and valid/ folders).

The dataset is what edf_structure_training_dataset makes: <movie>.h5, <movie>_target.h5 and
<movie>_objl.xml for each movie. Training runs in stages, one per entry of --patch_sizes,
--batch_sizes and --random_shifts (a shorter list repeats its last value), each starting from
the weights of the previous stage. --loss picks the recipe: dice_ce (default: Dice +
cross-entropy, learns from random weights; stages 16 32, batches 16 4) or tversky (the reference
ExoDeepFinder recipe, number for number; stages 8 16 32 48, batches 256 128 32 10, 100 epochs of
100 steps). --max_minutes scales the epochs of every stage, from the measured speed, to end in
that time. Writes to --output: net_weights_epoch<N>.h5 every 10 epochs, net_weights_FINAL.h5,
net_train_history.h5 and net_train_history_plot.png; --resume continues a stopped run after
its last finished epoch. Lists may be written 8 16 32, 8,16,32 or [8,16,32].
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_device_argument, add_overwrite_argument, add_precision_argument, run_command

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
                        help=f"the training recipe, named after its loss (default: {LOSSES[0]}; tversky = the "
                             "reference ExoDeepFinder recipe)")
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
                                   "fp32: float32")
    parser.add_argument("--checkpoint_every", type=int, default=10, help="save the weights every N epochs")
    add_device_argument(parser)
    add_overwrite_argument(parser)


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


def run(args):
    from ..training import expand_stages, get_recipe, train

    _check_numbers(args)
    stages = {name: _values(args, name) for name in STAGE_OPTIONS}
    defaults = get_recipe(args.loss).stage_options()
    try:  # the stage options' own errors, named by their flags
        expand_stages(**{name: defaults[name] if value is None else value for name, value in stages.items()})
    except ValueError as err:
        raise InputError(f"--{err}") from None
    bars = EpochBars()
    try:
        history = train(args.dataset, args.output, **stages, loss=args.loss, max_minutes=args.max_minutes,
                        learning_rate=args.learning_rate, steps_per_valid=args.steps_per_valid,
                        weights_path=args.weights_path, resume=args.resume, overwrite=args.overwrite,
                        device=args.device, precision=args.precision, seed=args.seed, on_step=bars,
                        log=lambda message: print(message, flush=True), checkpoint_every=args.checkpoint_every)
    finally:
        bars.close()
    print(f"done: {len(history)} epochs; last validation F1 (background, spot, event): "
          + ", ".join(f"{v:.3f}" for v in history[-1].val_f1))


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
