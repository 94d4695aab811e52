"""Faults the soak test (bench/soak.py) injects inside the processes it starts (the client and its Dask workers).

Python imports this module at start-up when its folder is on PYTHONPATH; it does nothing unless the
soak's environment variables are set:

- ``EDF_SOAK_ENOSPC=p``: each fsync of a file fails with ENOSPC (disk full) with probability ``p``;
- ``EDF_SOAK_READONLY=folder[:folder...]``: creating anything in these folders fails with EROFS (a
  read-only file system; the soak runs as root, who may write in a folder without write permission);
- ``EDF_SOAK_LOG=file``: one line per fault raised, ``<kind> <pid>``;
- ``EDF_SOAK_CONTROL=file``: the same three settings read from this JSON file
  (``{"enospc": p, "readonly": [folder, ...], "log": file}``) each time a hook runs, so that
  processes that outlive one run (the workers of a running scheduler) follow each run's faults.
  A missing or unreadable file means no fault.
"""

import errno
import json
import os
import random

_CONTROL = os.environ.get("EDF_SOAK_CONTROL")
_FIXED = {"enospc": float(os.environ.get("EDF_SOAK_ENOSPC") or 0),
          "readonly": [folder for folder in (os.environ.get("EDF_SOAK_READONLY") or "").split(os.pathsep) if folder],
          "log": os.environ.get("EDF_SOAK_LOG")}
_cache = {"stamp": None, "settings": {}}


def _settings():
    if not _CONTROL:
        return _FIXED
    try:
        stat = os.stat(_CONTROL)
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != _cache["stamp"]:
            with open(_CONTROL) as handle:
                _cache["settings"] = json.load(handle)
            _cache["stamp"] = stamp
    except (OSError, ValueError):
        return {}
    return _cache["settings"]


def _logged(kind, settings):
    if settings.get("log"):
        with open(settings["log"], "a") as handle:
            handle.write(f"{kind} {os.getpid()}\n")


if _CONTROL or _FIXED["enospc"]:
    _fsync = os.fsync
    _random = random.Random(os.getpid())

    def fsync(fd):
        settings = _settings()
        if settings.get("enospc") and _random.random() < float(settings["enospc"]):
            _logged("enospc", settings)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _fsync(fd)

    os.fsync = fsync

if _CONTROL or _FIXED["readonly"]:
    _mkdir = os.mkdir

    def mkdir(path, *args, **kwargs):
        settings = _settings()
        folders = {os.path.abspath(folder) for folder in settings.get("readonly") or ()}
        if folders and os.path.dirname(os.path.abspath(os.fspath(path))) in folders:
            _logged("readonly", settings)
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return _mkdir(path, *args, **kwargs)

    os.mkdir = mkdir
