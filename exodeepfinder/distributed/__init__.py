"""Batches of movies beyond one process: Dask clusters (local, SLURM/PBS/SGE, a running scheduler) and job-array shards.

A batch is a folder of movie folders, as for ``--batch``. Each movie folder is one task, run
by the same code as the serial ``--batch`` loop (so the files are the same and are published
atomically); folders whose outputs are all there are skipped, so running a batch again finishes
what an interrupted run left. From Python::

    from exodeepfinder.distributed import run_batch

    summary = run_batch("detect", "experiment/", cluster="local:2", patch_size=160)
    summary          # DataFrame: movie, status (done / skipped / failed), events, seconds, error

On the command line: ``exodeepfinder detect --batch experiment/ --cluster local:2`` (or
``--cluster slurm --cluster_options cores=8 memory=32GB walltime=02:00:00``), and
``--shard K/N`` in the tasks of a scheduler job array. Dask (``pip install
'exodeepfinder-torch[distributed]'``) is needed for clusters only.

Modules: :mod:`.clusters` (cluster specs and options), :mod:`.batch` (tasks, skipping),
:mod:`.results` (each folder's result, the summary), :mod:`.pin` (the weights every worker
checks), :mod:`.shard` (job arrays), :mod:`.outputs` (the files of each command),
:mod:`.cli` (the command-line options).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import batch_folders
from ..errors import InputError
from .batch import process_folder, run_folders
from .results import FolderResult, format_summary, summary_table
from .clusters import make_cluster, parse_cluster_options, parse_cluster_spec, start_cluster
from .shard import parse_shard, select_shard, shard_from_environment

__all__ = ["run_batch", "batch_folders", "run_folders", "process_folder", "FolderResult", "summary_table",
           "format_summary", "make_cluster", "start_cluster", "parse_cluster_spec", "parse_cluster_options",
           "parse_shard", "select_shard", "shard_from_environment"]


def run_batch(command: str, folder, *, cluster=None, cluster_options=None, shard=None, progress=None, **options):
    """Run a command on every movie folder of ``folder``, as ``exodeepfinder <command> --batch folder`` does.

    Parameters
    ----------
    command : str
        ``"detect"``, ``"segment"``, ``"generate_annotation"``, ``"detect_spots"``... (a command
        with a --batch mode).
    folder : str or Path
        The batch folder: one subfolder per movie.
    cluster : str, optional
        ``"local"``, ``"local:N"``, ``"slurm"``, ``"pbs"``, ``"sge"``, ``"tls://host:port"`` or
        ``"tcp://host:port"`` (see :mod:`.clusters`); default: one folder after the other in this
        process. ``tls_ca_file=``, ``tls_cert=``, ``tls_key=`` (paths) give the certificates of a
        ``tls://`` scheduler; ``insecure=True`` allows plain ``tcp://`` to another machine.
    cluster_options : dict, list of str or path, optional
        Options of a slurm/pbs/sge cluster (:func:`parse_cluster_options`).
    shard : (int, int) or str, optional
        Only shard K of N (``(K, N)`` or ``"K/N"``): folder i, in sorted order, is in shard i mod N.
    progress : callable, optional
        ``progress(done, total)`` in folders; returning False cancels.
    **options
        The command's options by their Python names (``patch_size=160``, ``overwrite=True``...);
        the others keep their command-line defaults.

    Returns
    -------
    DataFrame
        One row per movie folder: movie, status, events, seconds, error.
    """
    from ..commands import build_parser
    from .batch import command_module

    module = command_module(command)
    if getattr(module, "BATCH_PATHS", None) is None:
        raise InputError(f"command {command!r}: has no batch mode")
    parser = build_parser(module)
    defaults = {action.dest: action.default for action in parser._actions if action.dest != "help"}
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        raise InputError(f"{unknown[0]}: not an option of {command} (options: {', '.join(sorted(defaults))})")
    args = argparse.Namespace(**{**defaults, **options, "batch": Path(folder), "cluster": cluster})
    from .cli import connection_of

    connection = connection_of(args)
    folders = batch_folders(folder)
    if shard is not None:
        index, count = parse_shard(shard if isinstance(shard, str) else "{}/{}".format(*shard))
        folders = select_shard(folders, index, count)
    return summary_table(run_folders(module, args, folders, cluster=cluster, cluster_options=cluster_options,
                                     progress=progress, **connection))
