"""Faults the soak test (bench/soak.py) injects inside the processes it starts (the client and its Dask workers).

Python imports this module at start-up when its folder is on PYTHONPATH; it does nothing unless the
soak's environment variables are set:

- ``EDF_SOAK_ENOSPC=p``: each fsync of a file fails with ENOSPC (disk full) with probability ``p``;
- ``EDF_SOAK_READONLY=folder[:folder...]``: creating anything in these folders fails with EROFS (a
  read-only file system; the soak runs as root, who may write in a folder without write permission);
- ``EDF_SOAK_LOG=file``: one line per fault raised, ``<kind> <pid>``.
"""

import errno
import os
import random

_ENOSPC = float(os.environ.get("EDF_SOAK_ENOSPC") or 0)
_READONLY = os.environ.get("EDF_SOAK_READONLY")
_LOG = os.environ.get("EDF_SOAK_LOG")


def _logged(kind):
    if _LOG:
        with open(_LOG, "a") as handle:
            handle.write(f"{kind} {os.getpid()}\n")


if _ENOSPC:
    _fsync = os.fsync
    _random = random.Random(os.getpid())

    def fsync(fd):
        if _random.random() < _ENOSPC:
            _logged("enospc")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _fsync(fd)

    os.fsync = fsync

if _READONLY:
    _mkdir = os.mkdir
    _folders = {os.path.abspath(folder) for folder in _READONLY.split(os.pathsep) if folder}

    def mkdir(path, *args, **kwargs):
        if os.path.dirname(os.path.abspath(os.fspath(path))) in _folders:
            _logged("readonly")
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return _mkdir(path, *args, **kwargs)

    os.mkdir = mkdir
