"""Provenance of a result: what made it (version, weights and their sha256, parameters, machine, date).

Every command that writes results writes this record beside them as JSON (``run.json`` of
``exodeepfinder report``, ``{movie.stem}_run.json`` of ``exodeepfinder detect``).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np


def _cpu() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    return f"{name} ({cores} cores available)"


def _gpu() -> str | None:
    """The GPU PyTorch sees, if PyTorch is already in use (it is not imported for this)."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # a broken CUDA setup must not stop the writing of results
        return None
    return None


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def provenance(command: str, parameters: dict, *, weights=None, inputs=(), extra=None) -> dict:
    """The provenance record of a run.

    Parameters
    ----------
    command : str
        The command (e.g. ``"report"``).
    parameters : dict
        Every parameter of the run (paths are written as text).
    weights : str or Path, optional
        The network weights used: their path and sha256 are recorded.
    inputs : sequence of path
        Input files, recorded by path.
    extra : dict, optional
        Anything else worth keeping (e.g. the units of each movie).

    Returns
    -------
    dict
        ``software, version, command, parameters, weights, weights_sha256, inputs, python,
        platform, cpu, gpu, date`` (UTC, ISO 8601), plus ``extra``'s keys.
    """
    from ._version import __version__

    record = {"software": "exodeepfinder", "version": __version__, "command": command,
              "parameters": _jsonable(dict(parameters))}
    if weights is not None:
        from .model.download import sha256sum

        record["weights"] = str(weights)
        record["weights_sha256"] = sha256sum(weights) if Path(weights).is_file() else None
    record["inputs"] = [str(p) for p in inputs]
    record.update(python=platform.python_version(), platform=platform.platform(), cpu=_cpu(), gpu=_gpu(),
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    record.update(_jsonable(extra or {}))
    return record


def write_provenance(record: dict, path, *, overwrite: bool = True) -> Path:
    """Write a provenance record as indented JSON, atomically."""
    from .io.atomic import atomic_output

    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n")
    return path
