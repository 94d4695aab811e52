"""The command list and the conventions every command shares, below the CLI, the batch runner and the form window.

``exodeepfinder.cli`` (the commands), ``exodeepfinder.distributed`` (running a command on every
folder of a batch) and ``exodeepfinder.gui.forms`` (a form window per command) all build a
command's parser, fill its output path templates and word its failures the same way: that is here,
so that none of them imports another's helpers.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
from pathlib import Path

from .errors import InputError, error_message

#: Subcommands of ``exodeepfinder`` in pipeline order (module names in exodeepfinder.cli).
COMMANDS = [
    "demo",
    "detect",
    "report",
    "simulate",
    "convert_tiff_to_h5",
    "segment",
    "generate_annotation",
    "generate_segmentation",
    "evaluate",
    "detect_spots",
    "detect_spots_with_atlas",
    "merge_detector_expert",
    "structure_training_dataset",
    "train",
    "adapt",
    "download_weights",
    "export_bioimageio",
    "clean",
]

EXIT_INPUT_ERROR = 2
#: Set to 1 to see the traceback of every error (as with --debug).
ENV_DEBUG = "EXODEEPFINDER_DEBUG"


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


def batch_folders(folder) -> list[Path]:
    """The movie folders of a batch folder: its subfolders (not hidden), sorted by name.

    The one listing of ``--batch``, the batch runner, ``evaluate --pooled_batch`` and ``adapt``.
    InputError when ``folder`` is not a folder or has no subfolders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: batch folder not found")
    folders = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(f"{folder}: no subfolders to process (one folder per movie)")
    return folders


def in_subfolder(args: argparse.Namespace, folder: Path, names) -> argparse.Namespace:
    """The arguments of one ``--batch`` subfolder: the relative paths ``names`` made relative to it."""
    args = copy.copy(args)
    args.batch_folder = folder
    for name in names:
        value = getattr(args, name, None)
        if value is None or "{" in str(value) or Path(value).is_absolute():
            continue
        setattr(args, name, folder / value)
    return args


def debugging(args=None) -> bool:
    """True with --debug or $EXODEEPFINDER_DEBUG set (to anything but 0 or nothing)."""
    return bool(getattr(args, "debug", False)) or os.environ.get(ENV_DEBUG, "0") not in ("", "0")


def describe_failure(err: BaseException, args=None) -> str:
    """The one line a command prints for ``err`` (without ``error: ``)."""
    message = error_message(err)
    # the library names its Python arguments ("split: ..."); on the command line they are flags
    name = re.match(r"(\w+)[: ]", message)
    if name and args is not None and name.group(1) in vars(args) and str(getattr(args, name.group(1))) != name.group(1):
        message = "--" + message
    if isinstance(err, FileExistsError) and hasattr(args, "overwrite"):
        message += " (use --overwrite to replace it)"
    if message.startswith("internal error") and not debugging(args):
        message += f" (run again with --debug or {ENV_DEBUG}=1 for details)"
    return message


def no_arguments(argv) -> bool:
    """True when a command was started with no arguments at all (then it opens its form window)."""
    return argv is None and len(sys.argv) <= 1


def _one_line_usage_error(parser: argparse.ArgumentParser, message: str):
    # argparse prints its usage block; a command's errors are one line (see --help for the usage)
    message = re.sub(r"^argument (?:-[^/\s]+/)?(--?[\w-]+)(?:/--?[\w-]+)*: ", r"\1: ", message)
    parser.exit(EXIT_INPUT_ERROR, f"error: {' '.join(message.split())} (see {parser.prog} --help)\n")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless its help already says it or there is none to show."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or "default" in text:
            return text
        return super()._get_help_string(action)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --cluster, --cluster_options and --shard (commands that take --batch; run by exodeepfinder.distributed)."""
    group = parser.add_argument_group("running a --batch on several processes or machines "
                                      "(needs pip install 'exodeepfinder-torch[distributed]', except --shard)")
    group.add_argument("--cluster", default=None, metavar="SPEC",
                       help="one Dask task per movie folder on: local[:N] (N worker processes on this machine), "
                            "slurm, pbs, sge (workers as batch jobs; see --cluster_options), tls://host:port "
                            "(a running Dask scheduler, with --tls_* certificates) or tcp://host:port (a running "
                            "scheduler on this machine; another machine needs --insecure); folders already done "
                            "(same outputs, same options) are skipped")
    group.add_argument("--tls_ca_file", type=Path, default=None, metavar="PEM",
                       help="tls:// scheduler: the certificate authority that signed the scheduler's certificate")
    group.add_argument("--tls_cert", type=Path, default=None, metavar="PEM",
                       help="tls:// scheduler: this client's certificate (and key, if in the same file)")
    group.add_argument("--tls_key", type=Path, default=None, metavar="PEM",
                       help="tls:// scheduler: this client's private key")
    group.add_argument("--insecure", action="store_true",
                       help="allow a plain tcp:// scheduler on another machine (no encryption, no authentication: "
                            "whoever reaches it runs code as you)")
    group.add_argument("--cluster_options", nargs="+", default=None, metavar="KEY=VALUE",
                       help="slurm/pbs/sge: queue=, cores=, memory=, walltime=, gpus=, processes=, job_extra= "
                            "(repeatable), job_script_prologue= (repeatable), account=, max_workers= (default 10); "
                            "or a YAML file of these")
    group.add_argument("--shard", default=None, metavar="K/N",
                       help="only the folders of shard K of N (folder i, in sorted order, goes to shard i mod N; "
                            "K from 0), for the tasks of a job array; default inside a SLURM job array: "
                            "$SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT; folders whose outputs exist are skipped")


def build_parser(module, parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Create (or fill) the argument parser of a command module."""
    if parser is None:
        parser = argparse.ArgumentParser(prog=f"edf_{module.NAME}", description=module.__doc__,
                                         formatter_class=HelpFormatter)
    parser.error = _one_line_usage_error.__get__(parser)
    module.add_arguments(parser)
    if getattr(module, "BATCH_PATHS", None) is not None:
        parser.add_argument("-b", "--batch", type=Path, default=None,
                            help="run on every subfolder of this folder; other paths are then relative "
                                 "to each subfolder")
        add_distributed_arguments(parser)
    parser.add_argument("--debug", action="store_true",
                        help=f"show the full traceback of an error (or set {ENV_DEBUG}=1)")
    parser.set_defaults(_module=module)
    return parser
