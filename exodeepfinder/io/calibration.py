"""Event calibrations on disk: plain JSON (no pickle), written atomically.

See :mod:`exodeepfinder.events.calibrate` for what a calibration is.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from .atomic import atomic_output


def read_calibration(path):
    """Read a calibration JSON file; InputError naming the file if it is not one."""
    from ..events.calibrate import calibration_from_dict

    path = Path(path)
    try:
        data = json.loads(path.read_text())
        return calibration_from_dict(data)
    except FileNotFoundError:
        raise InputError(f"{path}: calibration file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a JSON file ({err})") from None
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{path}: {err}") from None


def write_calibration(calibration, path, *, overwrite: bool = True) -> Path:
    """Write a calibration as indented JSON (atomically); return the path."""
    from ..events.calibrate import calibration_to_dict

    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        Path(tmp).write_text(json.dumps(calibration_to_dict(calibration), indent=1, sort_keys=False) + "\n")
    return path
