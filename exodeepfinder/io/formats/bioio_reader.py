"""Every other microscope format (Nikon ND2, Zeiss CZI, Leica LIF...) read through ``bioio``.

``bioio`` is the optional extra ``exodeepfinder-torch[formats]``. A reader that reads sub-regions
itself (ND2, CZI) is asked for the frames needed; the others through their dask array, one plane
per chunk.
"""

from __future__ import annotations

import contextlib
import logging
import math
import warnings
from pathlib import Path

import numpy as np

from ...errors import InputError
from .choice import BIOIO_FORMATS, FORMATS_INSTALL_HINT, _axis_problem, choose
from .metadata import MovieMetadata, _length_um, _pixel_size, _units_or_none
from .sources import _finish, _reason, split_time_key


@contextlib.contextmanager
def _quiet():
    """Silence the warnings and log messages of the readers while they parse metadata.

    Readers log at length about metadata they cannot convert (an empty enumeration in a CZI
    file...); none of it matters for a movie's pixels, pixel size and frame interval.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _bioio_image(path, reader=None):
    suffix = path.suffix.lower()
    what, plugin = BIOIO_FORMATS.get(suffix, (f"{suffix or 'this'} files", "a bioio reader plugin"))
    try:
        from bioio import BioImage
        from bioio_base.exceptions import UnsupportedFileFormatError
    except ImportError:
        raise InputError(f"{path}: reading {what} needs the microscope formats extra: {FORMATS_INSTALL_HINT}") from None
    try:
        with _quiet():
            return BioImage(path, reader=reader)
    except UnsupportedFileFormatError:
        if bioio_can_read(path):  # the plugin is there and refused the file
            raise InputError(f"{path}: not a readable {what} file (damaged, incomplete, or another format "
                             "under this name)") from None
        raise InputError(f"{path}: no installed bioio reader can read this file (for {what}: pip install {plugin}, "
                         f"or {FORMATS_INSTALL_HINT})") from None
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as err:  # readers raise many types for damaged files
        raise InputError(f"{path}: cannot read {what} ({_reason(err)})") from None


def bioio_can_read(path) -> bool:
    """True if an installed bioio reader plugin claims files with the name of ``path``."""
    try:
        from bioio.plugins import get_plugins
    except ImportError:
        return False
    name = Path(path).name.lower()
    with _quiet():
        try:
            return any(name.endswith(ext.lower()) for ext in get_plugins(use_cache=True))
        except Exception:
            return False


def _reads_regions(reader) -> bool:
    """True if the bioio reader reads sub-regions itself (else only its dask array is lazy)."""
    from bioio_base.reader import Reader

    base = getattr(Reader, "_read_indexed", None)  # bioio-base < 3.5 has none: dask for all readers
    return base is not None and getattr(type(reader), "_read_indexed", base) is not base


class BioioFrames:
    """One channel of one scene of a file read through bioio, as a lazy ``[t, y, x]`` array.

    Slicing reads only the frames asked for: through the reader's own indexed reads (ND2, CZI),
    else through the reader's dask array, whose chunks are single planes.
    """

    def __init__(self, path, reader, selection: dict, shape):
        self.path = Path(path)
        self._reader = reader
        self._selection = selection
        self.shape = tuple(int(n) for n in shape)
        self.ndim = 3
        self.dtype = np.dtype(reader.dtype)
        self._dask = None
        if not _reads_regions(reader):
            self._dask = reader.get_image_dask_data("TYX", **selection)

    def __len__(self):
        return self.shape[0]

    def _read(self, frames) -> np.ndarray:
        if len(frames) == 0:
            return np.empty((0,) + self.shape[1:], self.dtype)
        try:
            with _quiet():
                if self._dask is not None:
                    block = self._dask[np.asarray(frames)].compute(scheduler="synchronous")
                else:
                    block = self._reader.get_image_data("TYX", T=list(map(int, frames)), **self._selection)
        except (OSError, RuntimeError, KeyError):
            raise
        except Exception as err:  # read failures of any reader become the OSError CheckedArray reports
            raise OSError(_reason(err)) from None
        return np.asarray(block).reshape((len(frames),) + self.shape[1:])

    def __getitem__(self, key):
        frames, single, rest = split_time_key(key, self.shape[0])
        return _finish(self._read(frames), single, rest)

    def close(self):
        close = getattr(self._reader, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()


def open_bioio_movie(path, channel=None, scene=None, *, reader=None):
    """Open a movie through bioio: ``(lazy [t, y, x] BioioFrames, MovieMetadata)``.

    ``reader`` forces a bioio reader class (default: the plugin bioio chooses).
    """
    path = Path(path)
    image = _bioio_image(path, reader)
    try:
        with _quiet():
            reader = image.reader
            scenes = [str(s) for s in reader.scenes]
            scene_index = choose("scene", scenes, scene, path)
            if scene_index != reader.current_scene_index:
                reader.set_scene(scene_index)
            dims = reader.dims
            sizes = dict(zip(dims.order, dims.shape))
            n_channels = sizes.get("C", 1)
            channels = [str(c) for c in (reader.channel_names or [])] if n_channels > 1 or "C" in sizes else []
            if len(channels) != n_channels:
                channels = [f"Channel:{scene_index}:{c}" for c in range(n_channels)]
            channel_index = choose("channel", channels, channel, path)
            problem = _axis_problem(path, sizes, time_axis_strict=True)
            if problem:
                raise InputError(problem)
            other = {a: n for a, n in sizes.items() if a not in "TCZYX" and n > 1}
            if other:
                raise InputError(f"{path}: dimensions {', '.join(f'{a}={n}' for a, n in other.items())} beside "
                                 "time, channel, Z, y and x (a mosaic of tiles?); expected a 2D + time movie")
            if sizes.get("T", 1) < 2:
                raise InputError(f"{path}: a single image (1 time point), not a movie")
            selection = {axis: 0 for axis in sizes if axis not in "TYX"}
            if "C" in sizes:
                selection["C"] = channel_index
            frames = BioioFrames(path, reader, selection, (sizes["T"], sizes["Y"], sizes["X"]))
            pixel_size, interval = _units_or_none(_bioio_units, reader)
    except InputError:
        raise
    except Exception as err:  # readers raise many types for damaged or unexpected files
        raise InputError(f"{path}: cannot read the movie ({_reason(err)})") from None
    plugin = type(reader).__module__.split(".")[0].replace("_", "-")
    metadata = MovieMetadata(pixel_size, interval, channels[channel_index] if channels else None,
                             scenes[scene_index] if scenes else None, tuple(channels), tuple(scenes),
                             plugin if plugin.startswith("bioio") else f"bioio-{plugin}")
    return frames, metadata


def _bioio_units(reader):
    """Pixel size (bioio reports micrometres) and frame interval (s) of a bioio reader's scene."""
    sizes = reader.physical_pixel_sizes
    return _pixel_size(_length_um(sizes.Y, "µm"), _length_um(sizes.X, "µm")), _bioio_interval(reader)


def _bioio_interval(reader) -> float | None:
    # time_interval (ND2, CZI), else the LIF reader's timelapse_interval; the standard metadata of
    # the other readers would convert all the metadata to OME first (seconds for a CZI file)
    for read in (lambda: reader.time_interval, lambda: getattr(reader, "timelapse_interval", None)):
        try:
            value = read()
        except Exception:
            continue
        if value is None:
            continue
        seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value)
        if math.isfinite(seconds) and seconds > 0:
            return float(seconds)
    return None
