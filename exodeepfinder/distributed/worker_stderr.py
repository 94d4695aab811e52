"""Preloaded in the worker processes of a local cluster: their stderr goes to the run's worker log.

A local cluster's worker processes are children of the command and would write on its stderr:
Dask's own log records (an error with its traceback when a worker dies at an unlucky moment),
Python's "Exception ignored in ..." reports and the like, beside the command's one-line errors.
:func:`exodeepfinder.distributed.clusters.start_cluster` names a log file in
``EXODEEPFINDER_WORKER_LOG`` and asks Dask to import this module first in every worker process
(``preload``), which points the process's file descriptor 2 there.
"""

from __future__ import annotations

import os
import sys

from .clusters import WORKER_LOG


def redirect_stderr(path) -> None:
    """Point this process's stderr (file descriptor 2, and so ``sys.stderr``) at the end of ``path``."""
    for stream in (sys.stderr, sys.__stderr__):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.dup2(fd, 2)
    finally:
        os.close(fd)


if os.environ.get(WORKER_LOG):
    redirect_stderr(os.environ[WORKER_LOG])
