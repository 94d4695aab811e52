"""Event calibrations on disk: plain JSON (no pickle), written atomically.

This module moves the calibration's JSON document (a dict) to and from disk; what the document
means is :mod:`exodeepfinder.events.calibrate`'s (``read_calibration``, ``write_calibration``).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .atomic import atomic_output


def read_calibration_document(path) -> dict:
    """The JSON document of a calibration file; InputError naming the file if it is not JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: calibration file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a JSON file ({err})") from None


def write_calibration_document(document: dict, path, *, overwrite: bool = True) -> Path:
    """Write a calibration's JSON document, indented, atomically; return the path."""
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    return path
