"""Run a command on every movie folder of a batch: one task per folder, in this process or on a Dask cluster.

A task runs the command exactly as the serial ``--batch`` loop does (``module.run(args)`` with
the paths of the folder), so its files are written by the same code, with the same atomic
publishing, and are the same as a serial run's. Folders whose outputs are all there are skipped,
so a batch cut short (a lost node, a walltime) is finished by running it again.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib
import io
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path

from ..commands import describe_failure, in_subfolder
from ..errors import Cancelled, InputError
from ..io.leftovers import remove_stale_partials
from ..progress import report
from .outputs import (completion_state, count_events, expected_outputs, outputs_state, run_parameters,
                      write_completion_record)
from .pin import WeightsPin, pin_weights, verify_weights
from .results import FolderResult


def portable_args(args: argparse.Namespace) -> argparse.Namespace:
    """A copy of a command's parsed arguments that can be sent to another process.

    Private entries (``_module``, the command module set by the parser) stay behind.
    """
    return argparse.Namespace(**{name: value for name, value in vars(args).items() if not name.startswith("_")})


def command_module(name: str):
    """The command-line module of a command: ``"detect"`` or ``"exodeepfinder.cli.detect"``."""
    try:
        return importlib.import_module(name if "." in name else f"exodeepfinder.cli.{name}")
    except ModuleNotFoundError:
        raise InputError(f"command {name!r}: no such command") from None


def folder_args(module, args: argparse.Namespace, folder: Path) -> argparse.Namespace:
    """The arguments of one folder: relative paths made relative to it, as the serial --batch loop does."""
    return in_subfolder(args, Path(folder), module.BATCH_PATHS)


def _one_line(err: BaseException, args=None) -> str:
    """The one line the command line prints for ``err`` (as the serial --batch loop does)."""
    return describe_failure(err, args)


def _use_threads(threads: int | None, uses_network: bool) -> int | None:
    """Give this process's PyTorch (and OpenMP libraries loaded later) ``threads`` threads; return its count.

    The count is PyTorch's when PyTorch is loaded, else what OpenMP libraries will take (None: unset).
    """
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)
    if not uses_network and "torch" not in sys.modules:
        # no need to load PyTorch (seconds) for commands that do not run the network
        value = os.environ.get("OMP_NUM_THREADS", "")
        return int(value) if value.isdigit() else None
    try:
        import torch
    except ImportError:  # the lite app: OpenVINO takes its thread count from the environment
        value = os.environ.get("OMP_NUM_THREADS", "")
        return int(value) if value.isdigit() else threads

    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def _worker_slot() -> int | None:
    """The number of this Dask worker on its machine (LocalCluster names them 0, 1...), else None."""
    try:
        from distributed import get_worker

        name = str(get_worker().name)
    except (ImportError, ValueError):
        return None
    last = name.rsplit("-", 1)[-1]
    return int(last) if last.isdigit() else None


def _use_own_gpu(args) -> None:
    """On a machine with several GPUs, worker k runs on GPU k mod the number of GPUs."""
    if getattr(args, "device", None) not in ("auto", "cuda"):
        return
    try:
        import torch
    except ImportError:  # no PyTorch, no GPU to pick
        return

    slot = _worker_slot()
    if slot is not None and torch.cuda.is_available() and torch.cuda.device_count() > 1:
        torch.cuda.set_device(slot % torch.cuda.device_count())


def folder_status(module, args: argparse.Namespace, folder: Path):
    """Before running: ``(state, outputs, events file)`` of a folder.

    ``state`` is ``"complete"`` (every output is there), ``"partial"``, ``"missing"`` or
    ``"unknown"`` (the outputs cannot be known before running; the run reports why).
    """
    expected = expected_outputs(module, folder_args(module, args, folder))
    if expected is None:
        return "unknown", [], None
    paths, events = expected
    for path in paths:  # what a killed run left first: its partial folders, what it published of a group
        remove_stale_partials(path)
    return outputs_state(paths), paths, events


def _skipped_or_partial(module, args, folder: Path, weights: WeightsPin | None = None) -> FolderResult | None:
    """The result of a folder that need not (or cannot safely) run again, else None.

    Complete outputs are skipped when their completion record says they are unchanged and were
    made with the same options; made with other options, the folder runs again (the result
    ``None``, its ``args.overwrite`` to be set: see :func:`_rerun_reason`).
    """
    if getattr(args, "overwrite", False):
        return None
    state, paths, events = folder_status(module, args, folder)
    if state == "complete":
        done, why = completion_state(paths, run_parameters(args, weights and weights.sha256))
        if done == "changed":
            return None
        if done == "damaged":
            return FolderResult(folder.name, "failed", error=f"{why}; remove it or run with --overwrite")
        return FolderResult(folder.name, "skipped", events=count_events(events))
    if state == "partial":
        present = ", ".join(p.name for p in paths if p.exists())
        missing = ", ".join(p.name for p in paths if not p.exists())
        return FolderResult(folder.name, "failed",
                            error=f"{folder}: outputs of an earlier run are incomplete ({present} present, "
                                  f"{missing} missing); remove them or overwrite")
    return None


class _LogToText(logging.Handler):
    """The package's warnings, as the command line shows them (``warning: ...``), into a folder's log."""

    def __init__(self, text):
        super().__init__(logging.WARNING)
        self.text = text

    def emit(self, record):
        self.text.write(f"warning: {' '.join(record.getMessage().split())}\n")


def _rerun_reason(module, args, folder: Path, weights) -> str:
    """The options that changed since a folder's complete outputs were made ("" if none or not complete)."""
    if getattr(args, "overwrite", False):
        return ""
    state, paths, _ = folder_status(module, args, folder)
    if state != "complete":
        return ""
    done, why = completion_state(paths, run_parameters(args, weights and weights.sha256))
    return why if done == "changed" else ""


def process_folder(command: str, args: argparse.Namespace, folder, *, threads: int | None = None,
                   capture: bool = True, weights: WeightsPin | None = None) -> FolderResult:
    """Run ``command`` on one movie folder, as one step of the serial --batch loop would: the task of a worker.

    Never raises for a problem of this folder: it is reported in the result. A folder whose
    outputs are all there is skipped.

    Parameters
    ----------
    command : str
        The command's module, ``"exodeepfinder.cli.detect"`` (or its short name, ``"detect"``).
    args : argparse.Namespace
        The command's arguments (see :func:`portable_args`), paths relative to the folder.
    folder : Path
        The movie folder.
    threads : int, optional
        PyTorch threads for this process (default: leave them).
    capture : bool
        Keep what the command prints (and the package's logged warnings) in ``result.log`` instead
        of printing it.
    weights : WeightsPin, optional
        The weights the client resolved (:func:`pin_weights`): the folder fails, naming this
        worker, if this process does not see the same file.
    """
    with _ONE_MOVIE_AT_A_TIME:
        return _process_folder(command, args, folder, threads, capture, weights)


#: A worker process runs one movie at a time, whatever its thread count (a worker of a running
#: scheduler may have several): the memory budget is the process's, and what a command prints is
#: captured by redirecting the process's stdout.
_ONE_MOVIE_AT_A_TIME = threading.Lock()


def _process_folder(command, args, folder, threads, capture, weights) -> FolderResult:
    module = command_module(command)
    folder = Path(folder)
    uses_network = hasattr(args, "model_weights")
    used_threads = _use_threads(threads, uses_network)
    already = _skipped_or_partial(module, args, folder, weights)
    if already is not None:
        return already
    if weights is not None:
        problem = verify_weights(weights)
        if problem is not None:
            return FolderResult(folder.name, "failed", error=f"{folder}: {problem}", threads=used_threads)
    log = io.StringIO()
    rerun = _rerun_reason(module, args, folder, weights)
    if rerun:
        args = copy.copy(args)
        args.overwrite = True  # outputs this package made, unchanged since (their record says so)
        print(f"{folder}: options changed since its outputs were made ({rerun}): running again, replacing them",
              file=log if capture else sys.stdout)
    start = time.perf_counter()
    redirect = contextlib.ExitStack()
    if capture:
        redirect.enter_context(contextlib.redirect_stdout(log))
        redirect.enter_context(contextlib.redirect_stderr(log))
        handler = _LogToText(log)
        package_log = logging.getLogger("exodeepfinder")
        package_log.addHandler(handler)
        redirect.callback(package_log.removeHandler, handler)
    error = details = ""
    try:
        with redirect:
            if uses_network:
                _use_own_gpu(args)
            module.run(folder_args(module, args, folder))
    except Cancelled:
        raise
    except Exception as err:  # reported for this folder; the others go on
        error = _one_line(err, args)
        if not isinstance(err, InputError):
            details = traceback.format_exc()
    seconds = time.perf_counter() - start
    if error:
        return FolderResult(folder.name, "failed", seconds=seconds, error=error, details=details,
                            log=log.getvalue(), threads=used_threads)
    expected = expected_outputs(module, folder_args(module, args, folder))
    events = count_events(expected[1]) if expected is not None else None
    if expected is not None and expected[0] and all(p.is_file() for p in expected[0]):
        try:
            write_completion_record(expected[0], run_parameters(args, weights and weights.sha256))
        except OSError as err:  # the outputs are fine; a rerun will only not know their options
            print(f"warning: {folder}: no completion record written ({err.strerror or err})",
                  file=log if capture else sys.stderr)
    return FolderResult(folder.name, "done", events=events, seconds=seconds, log=log.getvalue(),
                        threads=used_threads)


def run_folders(module, args: argparse.Namespace, folders, *, cluster=None, cluster_options=None,
                progress=None, started=None, security=None, insecure: bool = False) -> list[FolderResult]:
    """Run a command on movie folders, in this process or one task per folder on a Dask cluster.

    Folders whose outputs are all there are skipped (unless ``args.overwrite``); if none is
    left, no cluster is started.

    Parameters
    ----------
    module : module
        The command (a module of :mod:`exodeepfinder.cli` with ``NAME``, ``BATCH_PATHS``, ``run``).
    args : argparse.Namespace
        Its parsed arguments.
    folders : list of Path
        The movie folders.
    cluster : str, optional
        Where to run (see :func:`exodeepfinder.distributed.clusters.start_cluster`): ``"local[:N]"``,
        ``"slurm"``, ``"pbs"``, ``"sge"`` or ``"tcp://host:port"``. Default: in this process,
        one folder after the other, printing what the command prints.
    cluster_options : dict, list of str or path, optional
        Options of a ``slurm``/``pbs``/``sge`` cluster (see ``parse_cluster_options``).
    progress : callable, optional
        ``progress(done, total)`` in folders; returning False stops: pending tasks are cancelled
        and :class:`~exodeepfinder.errors.Cancelled` is raised.
    started : callable, optional
        Called once with the cluster's Dask dashboard address when it is up.
    security : distributed.Security, optional
        The certificates of a ``tls://`` scheduler (see :func:`~.clusters.make_security`).
    insecure : bool
        Allow a plain ``tcp://`` scheduler on another machine (refused otherwise, before any
        connection: see :func:`~.clusters.check_scheduler_address`).

    Returns
    -------
    list of FolderResult
        In the order of ``folders``.
    """
    folders = [Path(folder) for folder in folders]
    pin = None
    if cluster is not None:
        from .clusters import check_connection

        check_connection(cluster, security=security, insecure=insecure)  # before anything: no connection yet
        # workers have their own working folder, environment and cache: give them absolute paths and
        # the weights resolved here
        folders = [Path(os.path.abspath(folder)) for folder in folders]
        args = _absolute_paths(args, module.BATCH_PATHS or ())
        pin = pin_weights(args)
        if pin is not None:
            args.model_weights = Path(pin.path)
    elif hasattr(args, "model_weights"):
        pin = pin_weights(args)
    args = portable_args(args)
    results = {}
    pending = []
    for folder in folders:
        already = _skipped_or_partial(module, args, folder, pin)
        if already is None:
            pending.append(folder)
        else:
            results[folder] = already
    report(progress, len(results), len(folders))
    if cluster is None:
        for folder in pending:
            print(f"[{folder.name}]", flush=True)
            results[folder] = process_folder(module.__name__, args, folder, capture=False, weights=pin)
            report(progress, len(results), len(folders))
    elif pending:
        from .clusters import start_cluster

        uses_gpus = hasattr(args, "model_weights") and getattr(args, "device", "auto") != "cpu"
        with start_cluster(cluster, cluster_options, n_tasks=len(pending), gpus=uses_gpus, security=security,
                           insecure=insecure) as session:
            if started is not None:
                started(session.dashboard_link)
            results.update(_run_on_cluster(session, module.__name__, args, pending, len(folders) - len(pending),
                                           len(folders), progress, pin))
    return [results[folder] for folder in folders]


def _absolute_paths(args: argparse.Namespace, folder_paths) -> argparse.Namespace:
    """A copy of ``args`` whose Path options are absolute, except those relative to each movie folder."""
    args = copy.copy(args)
    for name, value in vars(args).items():
        if name in folder_paths or name.startswith("_"):
            continue
        if isinstance(value, Path):
            setattr(args, name, Path(os.path.abspath(value)))
        elif isinstance(value, list) and value and all(isinstance(item, Path) for item in value):
            setattr(args, name, [Path(os.path.abspath(item)) for item in value])
    return args


def _run_on_cluster(session, command, args, folders, done, total, progress, pin=None) -> dict:
    from distributed import as_completed

    batch = uuid.uuid4().hex[:8]
    futures = {}
    for folder in folders:
        future = session.client.submit(process_folder, command, args, folder, threads=session.threads,
                                       capture=True, weights=pin, key=f"{command.rsplit('.', 1)[-1]}-{folder.name}-{batch}", pure=False,
                                       resources=session.resources)
        futures[future] = folder
    results = {}
    try:
        for future in as_completed(futures):
            folder = futures[future]
            try:
                results[folder] = future.result()
            except Exception as err:  # the worker died (out of memory, lost node) too many times
                results[folder] = FolderResult(folder.name, "failed", error=f"{folder}: {_one_line(err)}")
            session.shrink(len(folders) - len(results))
            report(progress, done + len(results), total)
    except BaseException:  # cancelled, Ctrl-C, SIGTERM: the movies not started are not started
        session.client.cancel([f for f, folder in futures.items() if folder not in results])
        raise
    return results
