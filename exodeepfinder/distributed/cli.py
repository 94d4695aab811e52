"""The --cluster, --cluster_options and --shard options of the --batch commands.

``exodeepfinder.commands.build_parser`` adds these options where it adds ``--batch``, and
``exodeepfinder.cli._common.execute`` hands the batch to :func:`run_batch_command` when one of them is used (or when the command runs as a task of a
SLURM job array); without them the serial --batch loop is unchanged.
"""

from __future__ import annotations

import sys

from ..commands import add_distributed_arguments, debugging
from ..errors import InputError

EXIT_FAILED = 2


#: Add --cluster, --cluster_options and --shard (commands that take --batch).
add_arguments = add_distributed_arguments


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
    from ..progress import TqdmProgress
    from .batch import run_folders
    from .results import format_summary
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
