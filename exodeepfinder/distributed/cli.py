"""The --cluster, --cluster_options and --shard options of the --batch commands.

``exodeepfinder.cli._common`` adds these options where it adds ``--batch`` and hands the batch
to :func:`run_batch_command` when one of them is used (or when the command runs as a task of a
SLURM job array); without them the serial --batch loop is unchanged.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError

EXIT_FAILED = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --cluster, --cluster_options and --shard (commands that take --batch)."""
    group = parser.add_argument_group("running a --batch on several processes or machines "
                                      "(needs pip install 'exodeepfinder[distributed]', except --shard)")
    group.add_argument("--cluster", default=None, metavar="SPEC",
                       help="one Dask task per movie folder on: local[:N] (N worker processes on this machine), "
                            "slurm, pbs, sge (workers as batch jobs; see --cluster_options), tls://host:port "
                            "(a running Dask scheduler, with --tls_* certificates) or tcp://host:port (a running "
                            "scheduler on this machine; another machine needs --insecure); folders whose outputs "
                            "exist are skipped")
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


#: The options of the connection to a running scheduler.
CONNECTION_OPTIONS = ("tls_ca_file", "tls_cert", "tls_key", "insecure")


def connection_of(args) -> dict:
    """``security`` and ``insecure`` of :func:`~.clusters.start_cluster` from --tls_* and --insecure.

    Checks the scheduler address (:func:`~.clusters.check_connection`) without connecting.
    """
    from .clusters import check_connection, make_security

    files = [getattr(args, f"tls_{name}", None) for name in ("ca_file", "cert", "key")]
    cluster = getattr(args, "cluster", None)
    insecure = bool(getattr(args, "insecure", False))
    if cluster is None:
        return {}
    scheme = str(cluster).partition("://")[0].lower() if "://" in str(cluster) else ""
    security = make_security(*files) if any(files) or scheme in ("tls", "wss") else None
    check_connection(cluster, security=security, insecure=insecure)
    return {"security": security, "insecure": insecure}


def shard_of(args) -> tuple[int, int] | None:
    """The shard asked for by --shard, else the SLURM job array's (when --batch runs in one), else None."""
    from .shard import parse_shard, shard_from_environment

    text = getattr(args, "shard", None)
    if text is not None:
        try:
            return parse_shard(text)
        except InputError as err:
            raise InputError(f"--shard: {err}") from None
    if getattr(args, "batch", None) is None:
        return None
    return shard_from_environment()


def requested(args) -> bool:
    """True when the batch runs through :func:`run_batch_command` (--cluster or a shard).

    Raises InputError for --cluster, --cluster_options or --shard without --batch.
    """
    given = [f"--{name}" for name in ("cluster", "cluster_options", "shard") if getattr(args, name, None) is not None]
    connection = [f"--{name}" for name in CONNECTION_OPTIONS if getattr(args, name, None) not in (None, False)]
    if getattr(args, "batch", None) is None:
        if given or connection:
            raise InputError(f"{(given + connection)[0]}: only with --batch")
        return False
    if getattr(args, "cluster_options", None) is not None and getattr(args, "cluster", None) is None:
        raise InputError("--cluster_options: give --cluster slurm, pbs or sge too")
    if connection and getattr(args, "cluster", None) is None:
        raise InputError(f"{connection[0]}: give --cluster tls://host:port (or tcp://host:port) too")
    return bool(given) or shard_of(args) is not None


def run_batch_command(module, args, folders) -> int:
    """Run a command on its --batch folders with --cluster and/or --shard; print a summary; return the exit status.

    Exit status 2 when a movie failed (the others still ran), 0 otherwise.
    """
    from ..cli._common import debugging
    from ..progress import TqdmProgress
    from .batch import format_summary, run_folders
    from .shard import select_shard

    shard = shard_of(args)
    if shard is not None:
        index, count = shard
        folders = select_shard(folders, index, count)
        print(f"shard {index}/{count}: {len(folders)} movie folder(s)", flush=True)
        if not folders:
            return 0
    cluster = getattr(args, "cluster", None)

    def started(link):
        import importlib.util

        # a scheduler started here serves the dashboard only if bokeh is installed
        here = "://" not in cluster
        note = " (pip install bokeh to open it)" if here and importlib.util.find_spec("bokeh") is None else ""
        print(f"Dask dashboard: {link}{note}", flush=True)

    try:
        connection = connection_of(args)
    except InputError as err:
        if str(err).startswith((cluster, "--")):
            raise
        raise InputError(f"--cluster {cluster}: {err}") from None
    progress = TqdmProgress("movies", unit="movie") if cluster is not None else None
    try:
        results = run_folders(module, args, folders, cluster=cluster,
                              cluster_options=getattr(args, "cluster_options", None), progress=progress,
                              started=started, **connection)
    except InputError as err:
        if cluster is not None and not str(err).startswith("--"):
            raise InputError(f"--cluster {cluster}: {err}") from None
        raise
    finally:
        if progress is not None:
            progress.close()
    if cluster is not None:  # what each folder's command printed on its worker, as a serial run shows it
        for result in results:
            if result.log.strip():
                print(f"[{result.movie}]\n{result.log.rstrip()}", flush=True)
    print(format_summary(results), flush=True)
    if debugging(args):
        for result in results:
            if result.details:
                print(f"[{result.movie}] {result.details}", file=sys.stderr)
    return EXIT_FAILED if any(r.status == "failed" for r in results) else 0
