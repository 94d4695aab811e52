"""Physical units of a movie: pixel size (µm) and frame interval (s).

Where they come from, first found: the command line (``--pixel_size``, ``--frame_interval``),
the movie file's metadata (OME-TIFF, ImageJ, MetaMorph, Micro-Manager, bioio formats, and the
attributes ``pixel_size`` and ``frame_interval`` of the HDF5 ``dataset`` that
``edf_convert_tiff_to_h5 --pixel_size ... --frame_interval ...`` writes). When neither says, the
results stay in pixels and frames and a warning names the flag to give.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Attributes of the HDF5 ``dataset`` holding the units of a movie.
PIXEL_SIZE_ATTR = "pixel_size"
FRAME_INTERVAL_ATTR = "frame_interval"


class UnitsWarning(UserWarning):
    """A movie's pixel size or frame interval is unknown: results stay in pixels or frames."""


def check_pixel_size(value, name="pixel_size"):
    """``value`` (one number or ``(y, x)``) as a ``(y, x)`` tuple of positive floats, or None."""
    if value is None:
        return None
    sizes = np.broadcast_to(np.asarray(value, float).ravel(), (2,)) if np.size(value) in (1, 2) else None
    if sizes is None or not np.all(np.isfinite(sizes) & (sizes > 0)):
        raise ValueError(f"{name}: must be one or two positive numbers of micrometres, got {value!r}")
    return float(sizes[0]), float(sizes[1])


def check_frame_interval(value, name="frame_interval"):
    """``value`` as a positive float (seconds), or None."""
    if value is None:
        return None
    value = float(np.asarray(value, float).ravel()[0])
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name}: must be a positive number of seconds, got {value!r}")
    return value


def units_attrs(pixel_size=None, frame_interval=None) -> dict:
    """The HDF5 ``dataset`` attributes that store these units (only those given)."""
    attrs = {}
    if pixel_size is not None:
        attrs[PIXEL_SIZE_ATTR] = np.asarray(check_pixel_size(pixel_size), float)
    if frame_interval is not None:
        attrs[FRAME_INTERVAL_ATTR] = check_frame_interval(frame_interval)
    return attrs


def units_from_attrs(attrs):
    """``(pixel_size, frame_interval)`` read from HDF5 attributes (None where absent or invalid)."""
    pixel_size = frame_interval = None
    try:
        if PIXEL_SIZE_ATTR in attrs:
            pixel_size = check_pixel_size(attrs[PIXEL_SIZE_ATTR])
    except (ValueError, TypeError):
        pixel_size = None
    try:
        if FRAME_INTERVAL_ATTR in attrs:
            frame_interval = check_frame_interval(attrs[FRAME_INTERVAL_ATTR])
    except (ValueError, TypeError):
        frame_interval = None
    return pixel_size, frame_interval


def resolve_units(name, metadata=None, *, pixel_size=None, frame_interval=None, warn=True):
    """The units of a movie: those given, else the file's; warn (naming the flag) for those unknown.

    Parameters
    ----------
    name : str
        The movie, as named in the warning.
    metadata : MovieMetadata, optional
        What the file says (``pixel_size``, ``frame_interval``).
    pixel_size, frame_interval : optional
        Given values (they win over the file's).
    warn : bool
        Issue a :class:`UnitsWarning` for each unit still unknown.

    Returns
    -------
    pixel_size : (float, float) or None
    frame_interval : float or None
    """
    pixel_size = check_pixel_size(pixel_size if pixel_size is not None
                                  else getattr(metadata, "pixel_size", None))
    frame_interval = check_frame_interval(frame_interval if frame_interval is not None
                                          else getattr(metadata, "frame_interval", None))
    if warn and pixel_size is None:
        warnings.warn(UnitsWarning(f"{name}: pixel size unknown (not in the file): results in pixels; give "
                                   "--pixel_size (micrometres)"), stacklevel=2)
    if warn and frame_interval is None:
        warnings.warn(UnitsWarning(f"{name}: frame interval unknown (not in the file): results in frames; give "
                                   "--frame_interval (seconds)"), stacklevel=2)
    return pixel_size, frame_interval


def add_units_arguments(parser) -> None:
    """``--pixel_size`` and ``--frame_interval`` (commands that write results in physical units)."""
    parser.add_argument("--pixel_size", type=float, nargs="+", default=None, metavar="UM",
                        help="pixel size in micrometres (one value, or Y X); default: the movie file's")
    parser.add_argument("--frame_interval", type=float, default=None, metavar="S",
                        help="time between frames in seconds; default: the movie file's")


def units_options(args) -> dict:
    """The ``pixel_size`` and ``frame_interval`` given on the command line (checked), for the library."""
    from ..errors import InputError

    pixel_size = getattr(args, "pixel_size", None)
    if pixel_size is not None and len(pixel_size) > 2:
        raise InputError(f"--pixel_size: expected one value or Y X, got {len(pixel_size)} values")
    try:
        return dict(pixel_size=check_pixel_size(pixel_size, "--pixel_size"),
                    frame_interval=check_frame_interval(getattr(args, "frame_interval", None), "--frame_interval"))
    except ValueError as err:
        raise InputError(str(err)) from None
