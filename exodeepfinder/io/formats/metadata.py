"""What a movie file says about itself: :class:`MovieMetadata` and the parsing of its units.

Lengths are converted to micrometres and times to seconds from the unit names the formats use
(OME, ImageJ, MetaMorph, Micro-Manager, bioio); a value that cannot be understood is None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_LENGTH_IN_UM = {"pm": 1e-6, "nm": 1e-3, "µm": 1.0, "um": 1.0, "\u03bcm": 1.0, "micron": 1.0, "microns": 1.0,
                 "micrometer": 1.0, "micrometre": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
_TIME_IN_S = {"ps": 1e-12, "ns": 1e-9, "µs": 1e-6, "us": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0,
              "second": 1.0, "seconds": 1.0, "min": 60.0, "h": 3600.0, "hr": 3600.0}



@dataclass(frozen=True)
class MovieMetadata:
    """What a movie file says about itself.

    Attributes
    ----------
    pixel_size : (float, float) or None
        Size of a pixel along y and x, in micrometres (None when the file does not say).
    frame_interval : float or None
        Time between two frames, in seconds (None when the file does not say).
    channel, scene : str or None
        The channel and scene read (None for files without channels or scenes).
    channels, scenes : tuple of str
        All the channels and scenes of the file (of the scene read, for channels).
    format : str
        How the file was read: ``"hdf5"``, ``"tiff"``, ``"tiff frames"``, ``"ome-tiff"``,
        ``"imagej"``, ``"metamorph"``, ``"micromanager"`` or ``"bioio-<plugin>"``.
    """

    pixel_size: tuple[float, float] | None = None
    frame_interval: float | None = None
    channel: str | None = None
    scene: str | None = None
    channels: tuple = ()
    scenes: tuple = ()
    format: str = ""


def _unit_key(unit) -> str:
    # the micro sign in its forms, and as ImageJ escapes it in its metadata
    key = str(unit).strip().lower()
    for micro in ("\\u00b5", "\u00b5", "\u03bc"):
        key = key.replace(micro, "µ")
    return key


def _length_um(value, unit) -> float | None:
    return _converted(value, unit, _LENGTH_IN_UM, "µm")


def _time_s(value, unit) -> float | None:
    return _converted(value, unit, _TIME_IN_S, "s")


def _converted(value, unit, scales: dict, default_unit: str) -> float | None:
    """``value`` in ``unit`` (``default_unit`` when None) converted by ``scales``.

    None unless the unit is known and the value a finite positive number.
    """
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    scale = scales.get(_unit_key(unit if unit is not None else default_unit))
    if scale is None or not math.isfinite(value) or value <= 0:
        return None
    return value * scale


def _pixel_size(y_um, x_um) -> tuple[float, float] | None:
    """``(y, x)`` in µm when both are known (one given alone is taken for both: square pixels)."""
    y_um = y_um if y_um is not None and y_um > 0 else None
    x_um = x_um if x_um is not None and x_um > 0 else None
    if y_um is None and x_um is None:
        return None
    return (float(y_um if y_um is not None else x_um), float(x_um if x_um is not None else y_um))


def _interval_from_times(times_s) -> float | None:
    """The median step of increasing acquisition times (seconds), or None."""
    times = np.asarray([t for t in times_s if t is not None], float)
    if len(times) < 2:
        return None
    steps = np.diff(times)
    steps = steps[np.isfinite(steps)]
    step = round(float(np.median(steps)), 9) if len(steps) else 0.0  # no float noise below 1 ns
    return step if step > 0 else None


def _units_or_none(read, *args):
    """``read(*args)``: (pixel size, frame interval) from a file's metadata; (None, None) if it is malformed.

    Metadata that cannot be understood costs the unit columns, never the movie.
    """
    try:
        return read(*args)
    except Exception:
        return None, None
