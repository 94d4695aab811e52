"""The weights a batch runs, pinned on the client (path and sha256) and checked on every worker."""

from __future__ import annotations

import argparse
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError


@dataclass(frozen=True)
class WeightsPin:
    """The weights file a batch runs, as the client resolved it: every worker checks it has the same file.

    Attributes
    ----------
    path : str
        The absolute path of the weights file.
    sha256 : str
        Its sha256 on the client.
    source : str
        Where it came from (``"given file"``, ``"EXODEEPFINDER_WEIGHTS"``...).
    """

    path: str
    sha256: str
    source: str


def pin_weights(args: argparse.Namespace) -> WeightsPin | None:
    """Resolve the weights of a network command once, here: absolute path and sha256 (None for other commands).

    Workers would otherwise resolve them for themselves, with their own ``EXODEEPFINDER_WEIGHTS``,
    user cache and working folder, and could silently run another model.
    """
    if not hasattr(args, "model_weights"):
        return None
    from ..model.download import sha256sum
    from ..model.weights import resolve_weights

    path, source = resolve_weights(args.model_weights)
    path = Path(os.path.abspath(path))
    try:
        digest = sha256sum(path)
    except OSError as err:
        raise InputError(f"{path}: cannot read the weights file ({err.strerror or err})") from None
    return WeightsPin(str(path), digest, source)


#: sha256 of weights files already checked in this process, by (path, mtime, size).
_CHECKED_WEIGHTS: dict = {}


def _this_worker() -> str:
    """The Dask worker running this task (name, address, machine), else this process."""
    host = socket.gethostname()
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return f"process {os.getpid()} on {host}"
    return f"worker {worker.name} ({worker.address}, {host})"


def verify_weights(pin: WeightsPin) -> str | None:
    """Check that this process sees the client's weights file, unchanged; the problem in one line, else None."""
    from ..model.download import sha256sum

    path = Path(pin.path)
    try:
        info = path.stat()
        key = (pin.path, info.st_mtime_ns, info.st_size)
        digest = _CHECKED_WEIGHTS.get(key) or sha256sum(path)
    except OSError as err:
        return (f"{_this_worker()}: weights file {path} unreadable there ({err.strerror or err}); the client "
                f"runs it (sha256 {pin.sha256[:12]}...): give a path every worker sees")
    _CHECKED_WEIGHTS[key] = digest
    if digest != pin.sha256:
        return (f"{_this_worker()}: weights file {path} differs from the client's (sha256 {digest[:12]}... there, "
                f"{pin.sha256[:12]}... on the client): give a path every worker sees the same")
    return None
