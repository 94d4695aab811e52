"""What every command shares: parsing, ``--batch``, path placeholders and error reporting."""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

from ..errors import Cancelled, InputError

EXIT_INPUT_ERROR = 2
EXIT_CANCELLED = 130


def format_path(template, **paths) -> Path:
    """Fill ``{name}``, ``{name.parent}``, ``{name.stem}``... placeholders of an output path template.

    >>> format_path("{movie.parent}/{movie.stem}_segmentation.h5", movie="cell1/movie.h5")
    PosixPath('cell1/movie_segmentation.h5')
    """
    values = {name: Path(value) for name, value in paths.items() if value is not None}
    try:
        return Path(str(template).format(**values))
    except (KeyError, AttributeError, IndexError) as err:
        known = ", ".join("{" + n + "}" for n in values) or "none"
        raise InputError(f"{template}: unknown placeholder {err} (known: {known})") from None


def parse_patch_size(text) -> int:
    """``--patch_size`` (argparse type): a multiple of 4, at least 56, as the network's tiling needs."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 56 or value % 4:
        raise argparse.ArgumentTypeError(f"{value}: must be a multiple of 4, at least 56 (default 160)")
    return value


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    from ..model.weights import DEVICES

    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="where to run the network (default: auto = cuda, else mps, else cpu)")


def add_precision_argument(parser: argparse.ArgumentParser, help: str) -> None:
    from ..model.precision import PRECISIONS

    parser.add_argument("--precision", choices=PRECISIONS, default=PRECISIONS[0], help=help)


def weights_argument(text: str):
    """``--model_weights`` (argparse type): a file, or one of the names 'bundled' and 'official'."""
    from ..model.weights import WEIGHTS_NAMES

    return text if text in WEIGHTS_NAMES else Path(text)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The network options of segment, detect and demo: weights, patch size, device, precision."""
    parser.add_argument("-mw", "--model_weights", type=weights_argument, default=None,
                        help="U-Net weights: a .h5 file (Keras layout), 'bundled' or 'official'; default: "
                             "$EXODEEPFINDER_WEIGHTS, the official weights in the user cache, or the bundled model")
    parser.add_argument("-ps", "--patch_size", type=parse_patch_size, default=160,
                        help="patch size of the reference tiling (multiple of 4)")
    add_device_argument(parser)
    add_precision_argument(parser, "fast: 16-bit arithmetic where the hardware computes it natively (else "
                                   "float32) and large tiles; fp32: the reference's float32 numbers and tiles")


_LOADED = {}


def load_model_once(args):
    """The network for ``args``, loaded once also across --batch folders; print which weights run."""
    from ..model.weights import describe_model, load_model, resolve_weights

    path, _ = resolve_weights(args.model_weights)
    key = (str(path), path.stat().st_mtime_ns, args.device)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_model(args.model_weights, args.device)
    model = _LOADED[key]
    print(describe_model(model), flush=True)
    return model


def build_parser(module, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Create (or fill) the argument parser of a command module."""
    if parser is None:
        parser = argparse.ArgumentParser(prog=f"edf_{module.NAME}", description=module.__doc__,
                                         formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    module.add_arguments(parser)
    if getattr(module, "BATCH_PATHS", None) is not None:
        parser.add_argument("-b", "--batch", type=Path, default=None,
                            help="run on every subfolder of this folder; other paths are then relative "
                                 "to each subfolder")
    parser.set_defaults(_module=module)
    return parser


def _in_subfolder(args: argparse.Namespace, folder: Path, names) -> argparse.Namespace:
    args = copy.copy(args)
    args.batch_folder = folder
    for name in names:
        value = getattr(args, name, None)
        if value is None or "{" in str(value) or Path(value).is_absolute():
            continue
        setattr(args, name, folder / value)
    return args


def execute(module, args: argparse.Namespace) -> int:
    """Run a parsed command, once or on every subfolder with ``--batch``; return the exit status."""
    batch = getattr(args, "batch", None)
    try:
        if batch is None:
            module.run(args)
            return 0
        batch = Path(batch)
        if not batch.is_dir():
            raise InputError(f"{batch}: batch folder not found")
        folders = sorted(p for p in batch.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise InputError(f"{batch}: no subfolders to process")
        failed = []
        for folder in folders:
            print(f"[{folder.name}]", flush=True)
            try:
                module.run(_in_subfolder(args, folder, module.BATCH_PATHS))
            except InputError as err:
                failed.append(folder.name)
                print(f"  skipped {folder.name}: {err}", file=sys.stderr, flush=True)
        done = len(folders) - len(failed)
        print(f"{done} of {len(folders)} folder(s) done" + (f"; skipped: {', '.join(failed)}" if failed else ""))
        return EXIT_INPUT_ERROR if failed else 0
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except (Cancelled, KeyboardInterrupt):
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


GUI_INSTALL_HINT = "pip install 'exodeepfinder[gui]'"


def _display_available() -> bool:
    import os

    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def no_arguments(argv) -> bool:
    """True when a command was started with no arguments at all (then it opens its form window)."""
    return argv is None and len(sys.argv) <= 1


def open_form_window(parser: argparse.ArgumentParser, command: str | None) -> int:
    """The form window of ``command`` (or of all commands); without the GUI, the usage and how to get it."""
    if _display_available():
        try:
            from ..gui.forms import launch
        except ImportError as err:
            reason = f"the form window needs the GUI extra ({err})"
        else:
            return launch(command)
    else:
        reason = "no display for the form window"
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: {reason}; run with --help for the options, or install the GUI with: {GUI_INSTALL_HINT}",
          file=sys.stderr)
    return EXIT_INPUT_ERROR


def run_command(module, argv=None) -> int:
    """Entry point of an ``edf_<command>`` script: parse ``argv`` and run the command.

    Run with no arguments, the command opens its form window instead (see :func:`open_form_window`).
    """
    parser = build_parser(module)
    if no_arguments(argv):
        return open_form_window(parser, module.NAME)
    return execute(module, parser.parse_args(argv))


def input_path(args, name: str, batch_default: str, what: str) -> Path:
    """The input path given as ``--<name>``; with ``--batch``, ``<subfolder>/<batch_default>`` if not given.

    Raises InputError (``--<name>: give <what>``) when neither is there.
    """
    value = getattr(args, name)
    if value is None:
        if getattr(args, "batch_folder", None) is None:
            raise InputError(f"--{name}: give {what}")
        value = Path(args.batch_folder) / batch_default
    return Path(value)


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: stop with an error)")


def check_output(path, args) -> Path:
    """Return ``path`` as a Path; raise InputError if it exists and ``--overwrite`` was not given."""
    path = Path(path)
    if path.exists() and not getattr(args, "overwrite", False):
        raise InputError(f"{path}: already exists (use --overwrite to replace it)")
    return path
