"""What every command shares: parsing, ``--batch``, path placeholders, outputs and error reporting.

Every failure of a command is one line on stderr, ``error: <file>: <problem>``, and exit status 2
(130 when cancelled with Ctrl-C, 143 when terminated by SIGTERM or SIGHUP); ``--debug`` (or the
environment variable ``EXODEEPFINDER_DEBUG=1``) adds the traceback. Outputs are published only when complete, all the
outputs of one run together (see :func:`publish`), and never over an existing file without
``--overwrite``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path

# the conventions that the batch runner and the form window share with the commands (imported from here too)
from ..commands import (ENV_DEBUG, EXIT_INPUT_ERROR, HelpFormatter, _one_line_usage_error, batch_folders,  # noqa: F401
                        build_parser, debugging, describe_failure, format_path, in_subfolder, input_path,
                        no_arguments)
from ..errors import Cancelled, InputError
from ..progress import clear_pending_interrupt, interrupt

_in_subfolder = in_subfolder
EXIT_CANCELLED = 130
EXIT_TERMINATED = 143


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


def add_precision_argument(parser: argparse.ArgumentParser, help: str, choices=None) -> None:
    from ..model.precision import PRECISIONS

    choices = choices or PRECISIONS
    parser.add_argument("--precision", choices=choices, default=choices[0], help=help)


def weights_argument(text: str):
    """``--model_weights`` (argparse type): a file or model folder, or one of the names 'bundled' and 'official'."""
    from ..model.weights import WEIGHTS_NAMES

    return text if text in WEIGHTS_NAMES else Path(text)


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The network options of segment, detect and demo: weights, patch size, device, precision."""
    parser.add_argument("-mw", "--model_weights", type=weights_argument, default=None,
                        help="U-Net weights: a .h5 file (Keras layout), a model folder made by 'exodeepfinder "
                             "adapt', 'bundled' or 'official'; default: "
                             "$EXODEEPFINDER_WEIGHTS, the official weights in the user cache, or the bundled model")
    parser.add_argument("-ps", "--patch_size", type=parse_patch_size, default=160,
                        help="patch size of the reference tiling (multiple of 4)")
    add_device_argument(parser)
    add_precision_argument(parser, "auto: int8 on a CPU (OpenVINO), else fast; int8: 8-bit integer convolutions "
                                   "(OpenVINO on a CPU, the network quantized once per weights); fast: 16-bit "
                                   "arithmetic where the hardware computes it natively (else float32) and large "
                                   "tiles; fp32: the reference's float32 numbers and tiles")
    from ..inference.backends import BACKENDS
    from ..inference.tiling import TILINGS

    parser.add_argument("--backend", choices=BACKENDS, default="auto",
                        help="inference engine: auto = OpenVINO on a CPU, PyTorch on a GPU; torch = PyTorch "
                             "(the reference path); openvino = OpenVINO (CPU)")
    parser.add_argument("--tiling", choices=TILINGS, default=None,
                        help="windows the movie is cut into: fast = as large as memory allows; reference = the "
                             "reference's 160-pixel patches (default: reference with --precision fp32, else fast)")
    parser.add_argument("--max_memory", type=memory_argument, default=None,
                        help="memory budget of the segmentation, e.g. 2GB (default: 3.5 GB, or 60%% of the free "
                             "memory when that is less); lower is slower")


def memory_argument(text: str) -> int:
    """``--max_memory`` (argparse type): bytes, from '2GB', '512MB', '1.5G'..."""
    from ..inference.memory import parse_memory

    try:
        return parse_memory(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace("max_memory: ", "")) from None


def precision_line(args, model) -> str:
    """What ``--precision`` means here and why, e.g. "precision int8 (auto: AVX2 CPU, 2.1x float32, ...)"."""
    from ..inference.backends import resolve_precision

    device = next(model.parameters()).device if hasattr(model, "parameters") else model.device
    if resolve_precision(args.precision, args.backend, device)[0] == "int8":
        from ..inference.openvino_backend import weights_digest
        from ..inference.quantize import is_quantized

        if not is_quantized(weights_digest(model)):
            print("quantizing the network to int8 for these weights (once: about a minute)", flush=True)
    precision, reason = resolve_precision(args.precision, args.backend, device, model)
    line = f"precision {precision}" + (f" ({reason})" if precision != args.precision else "")
    if args.precision == "int8":  # asked for: say when its check failed
        from ..inference.openvino_backend import network_graph, weights_digest
        from ..inference.quantize import MIN_EVENT_IOU, int8_check, int8_passes

        digest = weights_digest(model)
        network_graph(model, digest, True)
        check = int8_check(digest)
        if check is not None and not int8_passes(check):
            line += (f" (warning: the int8 labels of these weights differ from float32's: event voxels shared "
                     f"{check['event_iou']:.3f} < {MIN_EVENT_IOU}; --precision auto runs them in float)")
    return line


def plan_line(args, model, movie) -> str:
    """How the segmentation cuts ``movie`` into network windows, e.g. "the whole 408 x 308 frame streamed in
    chunks of 14 frames: 1.17 computed voxels per voxel" (:meth:`~exodeepfinder.inference.tiling.TilePlan.describe`)."""
    from ..inference.segment import prepare

    itemsize = getattr(getattr(movie, "dtype", None), "itemsize", 8)
    _, plan = prepare(movie.shape, model, patch_size=args.patch_size, precision=args.precision,
                      backend=args.backend, tiling=args.tiling, max_memory=args.max_memory, itemsize=itemsize)
    return plan.describe(movie.shape)


def network_options(args) -> dict:
    """The segmentation keyword arguments given by :func:`add_model_arguments`'s options."""
    return dict(patch_size=args.patch_size, precision=args.precision, backend=args.backend, tiling=args.tiling,
                max_memory=args.max_memory)


def add_movie_format_arguments(parser: argparse.ArgumentParser) -> None:
    """``--channel`` and ``--scene``: which part of a microscope file (OME-TIFF, ND2, CZI, LIF...) is the movie."""
    group = parser.add_argument_group("microscope files (OME-TIFF, ND2, CZI, LIF, Micro-Manager, MetaMorph)")
    group.add_argument("--channel", default=None, metavar="NAME_OR_INDEX",
                       help="channel to analyse, by name or index (0 = first); required when the file has "
                            "several (the error lists them)")
    group.add_argument("--scene", default=None, metavar="NAME_OR_INDEX",
                       help="scene (position, series) to analyse, by name or index; required when the file has several")


def movie_format_options(args) -> dict:
    """The ``channel`` and ``scene`` keyword arguments of :func:`exodeepfinder.io.movie.open_movie` in ``args``."""
    return {"channel": getattr(args, "channel", None), "scene": getattr(args, "scene", None)}


def load_model_once(args):
    """The network for ``args``, loaded once also across --batch folders; print which weights run.

    See :func:`exodeepfinder.model.weights.cached_model` (the one model cache; a weights file
    that is not HDF5 is refused before PyTorch is even imported, any failure to load the weights
    is an InputError naming the file).
    """
    from ..model.weights import cached_model, describe_model

    model = cached_model(args.model_weights, args.device)
    print(describe_model(model), flush=True)
    return model


class _Terminated(BaseException):
    """SIGTERM, raised like Ctrl-C so that partial outputs are removed on the way out."""


@contextlib.contextmanager
def _terminate_cleanly():
    """SIGTERM raises _Terminated, Ctrl-C KeyboardInterrupt, both again if a finalizer swallows them
    (see :func:`~exodeepfinder.progress.interrupt`), without Python's "Exception ignored" report."""
    handlers = {signal.SIGTERM: lambda signum, frame: interrupt(_Terminated()),
                signal.SIGINT: lambda signum, frame: interrupt(KeyboardInterrupt())}
    if hasattr(signal, "SIGHUP"):  # the terminal closed, an ssh session lost: as SIGTERM (not on Windows)
        handlers[signal.SIGHUP] = lambda signum, frame: interrupt(_Terminated())
    clear_pending_interrupt()
    try:
        previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    except (ValueError, OSError, AttributeError):  # not the main thread (e.g. a GUI worker)
        yield
        return
    report_unraisable = sys.unraisablehook

    def quiet_interruptions(unraisable):
        if not isinstance(unraisable.exc_value, (KeyboardInterrupt, _Terminated)):
            report_unraisable(unraisable)

    sys.unraisablehook = quiet_interruptions
    try:
        yield
    finally:
        sys.unraisablehook = report_unraisable
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        clear_pending_interrupt()


class _LogLines(logging.Handler):
    """Log records as single lines: the package's at once on stderr (``warning: ...``, e.g. a stale
    partial output removed), the other libraries' kept with the warnings (without a handler, Python
    would print them on stderr, beside the one error line)."""

    def __init__(self, kept: list):
        super().__init__(logging.WARNING)
        self.kept = kept

    def emit(self, record):
        text = " ".join(record.getMessage().split())
        if record.name == "exodeepfinder" or record.name.startswith("exodeepfinder."):
            print(f"warning: {text}", file=sys.stderr, flush=True)
        else:
            self.kept.append(f"{record.name}: {text}")


class _Notes:
    """What the libraries said during a run: their warnings and log messages, shown after a success."""

    def __init__(self):
        self.logged = []
        self.warned = []

    def show(self) -> None:
        shown = set()
        for text in self.logged + [" ".join(str(w.message).split()) for w in self.warned]:
            if text not in shown:
                shown.add(text)
                print(f"warning: {text}", file=sys.stderr)


def _one_line_reports(kept: list):
    """Python's reports of exceptions nobody could catch (in a finalizer, in a thread), as one kept line
    each instead of a traceback on stderr (``(unraisablehook, excepthook)``)."""

    def unraisable(report):
        where = f" in {report.object!r}" if report.object is not None else ""
        kept.append(f"ignored {type(report.exc_value).__name__}: {' '.join(str(report.exc_value).split())}{where}")

    def thread_failed(report):
        if report.exc_type is SystemExit:
            return
        name = report.thread.name if report.thread is not None else "a thread"
        kept.append(f"{report.exc_type.__name__} in {name}: {' '.join(str(report.exc_value).split())}")

    return unraisable, thread_failed


@contextlib.contextmanager
def _reporting(args):
    """Collect the libraries' warnings and log messages (under --debug, warnings show as they come).

    Without --debug, Python's reports of exceptions raised where nothing catches them (a
    finalizer's, a thread's: a traceback each) are kept as one line with the log messages.
    """
    notes = _Notes()
    root = logging.getLogger()
    handler = _LogLines(notes.logged)
    root.addHandler(handler)
    hooks = sys.unraisablehook, threading.excepthook
    try:
        if debugging(args):
            yield notes
            return
        sys.unraisablehook, threading.excepthook = _one_line_reports(notes.logged)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            notes.warned = caught
            yield notes
    finally:
        sys.unraisablehook, threading.excepthook = hooks
        root.removeHandler(handler)


def _fail(err: BaseException, args) -> int:
    sys.stdout.flush()
    if debugging(args):
        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
    print(f"error: {describe_failure(err, args)}", file=sys.stderr, flush=True)
    return EXIT_INPUT_ERROR


def execute(module, args: argparse.Namespace) -> int:
    """Run a parsed command, once or on every subfolder with ``--batch``; return the exit status.

    Any failure is one line on stderr and status 2; Ctrl-C (or a GUI's Cancel) is status 130,
    SIGTERM 143. Warnings of the libraries are shown as one line each after a successful run
    (all of them, with their origin, under --debug).
    """
    batch = getattr(args, "batch", None)
    with _reporting(args) as notes, _terminate_cleanly():
        try:
            from ..distributed import cli as distributed

            in_parallel = distributed.requested(args)  # --cluster or --shard (an error without --batch)
            if batch is None:
                module.run(args)
                notes.show()
                return 0
            folders = batch_folders(batch)
            if in_parallel:
                status = distributed.run_batch_command(module, args, folders)
                notes.show()
                return status
            failed = []
            for folder in folders:
                print(f"[{folder.name}]", flush=True)
                try:
                    module.run(in_subfolder(args, folder, module.BATCH_PATHS))
                except Exception as err:
                    if isinstance(err, Cancelled):
                        raise
                    failed.append(folder.name)
                    sys.stdout.flush()
                    if debugging(args):
                        traceback.print_exception(type(err), err, err.__traceback__, file=sys.stderr)
                    print(f"  skipped {folder.name}: {describe_failure(err, args)}", file=sys.stderr, flush=True)
            done = len(folders) - len(failed)
            print(f"{done} of {len(folders)} folder(s) done" + (f"; skipped: {', '.join(failed)}" if failed else ""))
            notes.show()
            return EXIT_INPUT_ERROR if failed else 0
        except (Cancelled, KeyboardInterrupt):
            sys.stdout.flush()
            print("cancelled", file=sys.stderr, flush=True)
            return EXIT_CANCELLED
        except _Terminated:
            sys.stdout.flush()
            print("terminated", file=sys.stderr, flush=True)
            return EXIT_TERMINATED
        except Exception as err:
            return _fail(err, args)


def run_command(module, argv=None) -> int:
    """Parse ``argv`` (default: the command line) and run the command; return the exit status.

    The installed ``edf_<command>`` scripts are :mod:`exodeepfinder.launch`'s, which open the
    command's form window when started with no arguments; here no arguments is a usage error.
    """
    parser = build_parser(module)
    if no_arguments(argv):
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: give the options (see --help), or start edf_{module.NAME} with none to fill "
              "them in its form window", file=sys.stderr)
        return EXIT_INPUT_ERROR
    return execute(module, parser.parse_args(argv))


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true",
                        help="replace output files that already exist (default: stop with an error)")


def overwrite_allowed(args) -> bool:
    """True if the command was given ``--overwrite``."""
    return bool(getattr(args, "overwrite", False))


def _input_paths(args):
    """The input files of a command: its Path-valued options (outputs are text templates)."""
    for name, value in vars(args).items():
        if name in ("batch", "pooled_batch", "batch_folder", "output") or name.startswith("_"):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Path):
                yield item


def check_output(path, args) -> Path:
    """Return output ``path`` as a Path after the checks that can be made before any work.

    Raises InputError if ``path`` exists and ``--overwrite`` was not given, if it is a folder or
    also an input of the command, or if its folder cannot be created or written to (a file used
    as a folder, permission denied, a read-only disk). The existence check is repeated, in one
    step with the publishing, when the output is complete (see :func:`publish`).
    """
    from ..io.atomic import check_writable_folder, remove_stale_partials

    path = Path(path)
    remove_stale_partials(path)  # a killed run's leftovers, and what it published of a group of outputs
    for source in _input_paths(args):
        with contextlib.suppress(OSError):
            if source.exists() and path.exists() and os.path.samefile(source, path):
                raise InputError(f"{path}: is also an input of this command; choose another output")
    check_writable_folder(path)
    if path.exists() and not overwrite_allowed(args):
        raise InputError(f"{path}: already exists (use --overwrite to replace it)")
    return path


@contextlib.contextmanager
def naming_input(path, progress=None):
    """Turn the library's ValueError about an input into an InputError naming ``path``; close ``progress``."""
    try:
        yield
    except InputError:
        raise
    except ValueError as err:
        raise InputError(f"{path}: {err}") from None
    finally:
        if progress is not None:
            progress.close()


def publish(args, paths):
    """Write outputs that appear together, complete, or not at all: ``with publish(args, paths) as temporary:``.

    A context manager yielding the temporary path of each of ``paths`` (a list, or a dict for
    named outputs). When the block succeeds the files are flushed to disk and published under
    their names, together; on error or Ctrl-C none is. An existing file is replaced only with
    ``--overwrite``, and the check is made in one step with the publishing (an output created
    meanwhile by another run is never replaced: FileExistsError).
    """
    from ..io.atomic import atomic_outputs

    return atomic_outputs(paths, overwrite=overwrite_allowed(args))
