"""Movies: 3D arrays indexed ``[t, y, x]`` read from HDF5, a folder of TIFF frames, a TIFF stack or a
microscope file (OME-TIFF, Micro-Manager, MetaMorph, Nikon ND2, Zeiss CZI, Leica LIF: see
:mod:`exodeepfinder.io.formats`)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from ..errors import InputError
from .checked import CheckedArray
from .formats import FIRST, MovieMetadata
from .h5 import open_h5

TIFF_SUFFIXES = (".tif", ".tiff")
H5_SUFFIXES = (".h5", ".hdf5", ".hdf")
_LAST_NUMBER = re.compile(r"^(.*?)(\d+)(\D*)$")


def is_tiff(path) -> bool:
    return Path(path).suffix.lower() in TIFF_SUFFIXES


def list_tiff_frames(folder) -> list[Path]:
    """Return the frame files of a folder of one TIFF per frame, in frame order.

    The reference naming rules: extensions .tif/.tiff in any case; the last number in the
    name is the frame number, 1-based and consecutive; all names share one pattern apart
    from that number (e.g. ``cell_0001.tif`` ... ``cell_1000.tif``).

    Raises
    ------
    InputError
        On an empty folder, names without a number, two naming patterns, or missing or
        repeated frame numbers; the message names the offending file.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_tiff(p) and not p.name.startswith("."))
    if not files:
        raise InputError(f"{folder}: no TIFF frames (.tif, .tiff) in this folder")
    frames: dict[int, Path] = {}
    pattern = None
    for path in files:
        match = _LAST_NUMBER.match(path.stem)
        if match is None:
            raise InputError(f"{path}: no frame number in the file name")
        prefix, number, suffix = match.groups()
        this_pattern = (prefix, suffix, path.suffix.lower())
        if pattern is None:
            pattern, first = this_pattern, path
        elif this_pattern != pattern:
            raise InputError(f"{path}: name does not follow the pattern of {first.name} "
                             "(two naming patterns in one folder)")
        index = int(number)
        if index in frames:
            raise InputError(f"{path}: frame number {index} repeated (also {frames[index].name})")
        frames[index] = path
    numbers = sorted(frames)
    expected = range(1, len(numbers) + 1)
    if numbers != list(expected):
        if numbers[0] != 1:
            raise InputError(f"{frames[numbers[0]]}: frame numbers must start at 1 (first found: {numbers[0]})")
        missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
        raise InputError(f"{folder}: missing frame number(s) {_abbreviate(missing)} "
                         f"(e.g. after {frames[missing[0] - 1].name})")
    return [frames[i] for i in numbers]


def _abbreviate(values, limit=5):
    text = ", ".join(str(v) for v in values[:limit])
    return text + (f" and {len(values) - limit} more" if len(values) > limit else "")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(" ".join(record.getMessage().split()))


def _read_tiff(path) -> np.ndarray:
    import tifffile

    # tifffile logs what it finds wrong in a damaged file (and may then return no pixels): keep it for the message
    logger, problems = logging.getLogger("tifffile"), _Collect()
    logger.addHandler(problems)
    propagate, logger.propagate = logger.propagate, False
    try:
        image = tifffile.imread(path)
    except Exception as err:  # tifffile raises many types for corrupt files
        raise InputError(f"{path}: cannot read TIFF ({type(err).__name__}: {err})") from None
    finally:
        logger.removeHandler(problems)
        logger.propagate = propagate
    if image.size == 0 or image.ndim < 2:
        reason = problems.messages[-1] if problems.messages else "no image in the file"
        raise InputError(f"{path}: cannot read TIFF ({reason})")
    return image


class TiffFolder:
    """A folder of TIFF frames seen as a lazy ``[t, y, x]`` array (frames are read when sliced)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.files = list_tiff_frames(self.folder)
        first = _read_tiff(self.files[0])
        if first.ndim != 2:
            raise InputError(f"{self.files[0]}: a frame must be a 2D image, found shape {first.shape}")
        self.shape = (len(self.files),) + first.shape
        self.dtype = first.dtype
        self.ndim = 3

    def __len__(self):
        return self.shape[0]

    def _frame(self, index) -> np.ndarray:
        frame = _read_tiff(self.files[index])
        if frame.shape != self.shape[1:]:
            raise InputError(f"{self.files[index]}: frame of shape {frame.shape}, "
                             f"but {self.files[0].name} has shape {self.shape[1:]}")
        if frame.dtype != self.dtype and not np.can_cast(frame.dtype, self.dtype, "safe"):
            raise InputError(f"{self.files[index]}: pixels of type {frame.dtype}, but {self.files[0].name} "
                             f"has {self.dtype} (all frames must have one pixel type)")
        return frame.astype(self.dtype, copy=False)

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        time_key, rest = key[0], key[1:]
        if isinstance(time_key, (int, np.integer)):
            return self._frame(range(self.shape[0])[time_key])[rest]
        indices = range(self.shape[0])[time_key] if isinstance(time_key, slice) else np.asarray(time_key)
        out = np.empty((len(indices),) + self.shape[1:], self.dtype)
        for i, index in enumerate(indices):
            out[i] = self._frame(index)
        return out[(slice(None),) + rest]

    def __array__(self, dtype=None, copy=None):
        array = self[:]
        return array if dtype is None else array.astype(dtype)


def _open_tiff_stack(path):
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = series.shape
        if len(shape) == 2:
            raise InputError(f"{path}: a single 2D image, not a movie (expected a stack of frames)")
        try:
            movie = tifffile.memmap(path, mode="r")
        except ValueError:  # not in one block; a compressed stack of several pages is read page by page
            # (formats.open_tiff_movie): what comes here is one image, or one block tifffile cannot map
            movie = tifffile.imread(path)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{path}: cannot read TIFF ({type(err).__name__}: {err})") from None
    movie = np.squeeze(movie)
    if movie.ndim != 3:
        raise InputError(f"{path}: expected a stack of 2D frames [t, y, x], found shape {movie.shape}")
    return movie


def check_movie_array(shape, dtype, name) -> None:
    """Raise InputError unless ``shape`` and ``dtype`` are those of a movie: ``[t, y, x]`` of numbers.

    ``name`` (a path, or an argument name) starts the message. Integers and floats of any size
    are movies; booleans (a mask?), complex numbers, text and records are refused.
    """
    shape, dtype = tuple(shape), np.dtype(dtype)
    if len(shape) == 2:
        raise InputError(f"{name}: a single 2D image of shape {shape}, not a movie (expected [t, y, x])")
    if len(shape) != 3:
        raise InputError(f"{name}: expected a 3D movie [t, y, x], found shape {shape}")
    if min(shape) < 1:
        raise InputError(f"{name}: empty movie of shape {shape} (no frames or no pixels)")
    if dtype.kind == "b":
        raise InputError(f"{name}: the pixels are booleans (a mask?), not intensities; "
                         "expected a movie of integers or floats")
    if dtype.kind not in "iuf":
        raise InputError(f"{name}: pixels of type {dtype} are not intensities; expected integers or floats")


def check_finite_frames(block, frames, name) -> None:
    """Raise InputError naming the first frame of ``block`` with NaN or infinite pixels.

    ``block`` holds frames ``frames`` (indices in the movie) of a movie, or one frame.
    """
    block = np.asarray(block)
    if block.dtype.kind != "f":
        return
    finite = np.isfinite(block)
    if finite.all():
        return
    if block.ndim >= 3 and len(frames) == len(block):
        first = int(np.flatnonzero(~finite.reshape(len(block), -1).all(axis=1))[0])
        frame, bad = block[first], ~finite[first]
        t = int(frames[first])
    else:
        frame, bad, t = block, ~finite, int(frames[0])
    kinds = " or ".join(k for k, m in (("NaN", np.isnan(frame)), ("infinite", np.isinf(frame))) if m.any())
    where = ""
    if frame.ndim == 2:
        y, x = np.argwhere(bad)[0]
        where = f", first at y={y}, x={x}"
    raise InputError(f"{name}: frame t={t} has {int(bad.sum())} {kinds} pixel(s){where}; "
                     "replace them (e.g. by the frame minimum) before analysing the movie")


def as_movie(movie, name="movie"):
    """Check an in-memory or lazy movie (shape and pixel type); return it, NaN checks added to lazy reads.

    For the library functions that take arrays: a NumPy array is checked whole (NaN and
    infinite pixels included); a :class:`~exodeepfinder.io.checked.CheckedArray` from
    :func:`open_movie` already checks what it reads.

    Raises
    ------
    InputError
        Naming ``name``, for anything that is not a ``[t, y, x]`` movie of finite numbers.
    """
    check_movie_array(movie.shape, movie.dtype, name)
    if isinstance(movie, CheckedArray):
        return movie
    if isinstance(movie, np.ndarray):
        check_finite_frames(movie, np.arange(len(movie)), name)
        return movie
    return CheckedArray(movie, name, check=check_finite_frames)


class Movie(CheckedArray):
    """A movie file opened by :func:`open_movie`: a :class:`CheckedArray` that knows its metadata.

    Attributes
    ----------
    metadata : MovieMetadata
        Pixel size (µm) and frame interval (s) when the file says them, the channel and scene
        read, and the file's channels and scenes.
    """

    def __init__(self, source, path, *, metadata: MovieMetadata, handle=None):
        super().__init__(source, path, check=check_finite_frames, handle=handle)
        self.metadata = metadata

    @property
    def pixel_size(self):
        """``(y, x)`` size of a pixel in micrometres, or None."""
        return self.metadata.pixel_size

    @property
    def frame_interval(self):
        """Time between frames in seconds, or None."""
        return self.metadata.frame_interval


def open_movie(path, *, channel=None, scene=None) -> Movie:
    """Open a movie lazily as a ``[t, y, x]`` array-like (slicing reads frames from disk).

    Parameters
    ----------
    path : str or Path
        An HDF5 file (``.h5``; array in ``dataset``), a folder of one TIFF per frame, a
        multi-page TIFF stack, or a microscope file: OME-TIFF, Micro-Manager stack, MetaMorph
        ``.stk``, ImageJ hyperstack, and with the ``formats`` extra Nikon ``.nd2``, Zeiss
        ``.czi``, Leica ``.lif`` and any other file a bioio reader plugin reads.
    channel : str or int, optional
        The channel to read, by name or index; required when the file has several (the error
        lists them).
    scene : str or int, optional
        The scene (position, series, OME image) to read, by name or index; required when the
        file has several.

    Returns
    -------
    Movie
        With ``shape``, ``dtype``, ``metadata`` (pixel size in µm, frame interval in s...) and
        frame slicing (``movie[t0:t1]`` returns a NumPy array, reading only those frames);
        ``close()`` closes the file. Every read is checked: NaN or infinite pixels, and a
        damaged file, raise InputError naming the file and the frame.

    Raises
    ------
    InputError
        If the file is missing or unreadable, or does not hold a ``[t, y, x]`` movie of integers
        or floats (a 2D image, a z-stack, a 4D array, booleans... are refused), or if the
        channel or scene is missing or not given when the file has several.

    Notes
    -----
    A Z axis of size 1 is dropped. A file with several Z planes is refused (a z-stack is not a
    movie), except ImageJ and plain TIFF stacks, whose single axis of planes is taken as time as
    before (ImageJ often labels the frames of a stack as slices).
    """
    from . import formats

    path = Path(path)
    handle = None
    metadata = None
    if path.is_dir():
        source = TiffFolder(path)
        metadata = MovieMetadata(format="tiff frames")
    elif not path.exists():
        raise InputError(f"{path}: file not found")
    elif is_tiff(path) or path.suffix.lower() in formats.METAMORPH_SUFFIXES:
        source, metadata, handle = formats.open_tiff_movie(path, channel, scene)
        if source is None:  # a plain stack of one channel: memory-mapped as it always was
            source = _open_tiff_stack(path)
    elif path.suffix.lower() in H5_SUFFIXES:
        from .units import units_from_attrs

        source = open_h5(path)
        handle = source.file
        pixel_size, frame_interval = units_from_attrs(source.attrs)
        metadata = MovieMetadata(pixel_size, frame_interval, format="hdf5")
    elif path.suffix.lower() in formats.BIOIO_FORMATS or formats.bioio_can_read(path):
        source, metadata = formats.open_bioio_movie(path, channel, scene)
        handle = source
    else:
        raise InputError(f"{path}: unknown movie format (expected .h5, .tif/.tiff, a folder of TIFF frames, "
                         "or a microscope file: OME-TIFF, .stk, .nd2, .czi, .lif)")
    if metadata.format in ("hdf5", "tiff frames"):
        formats.choose("channel", (), channel, path)
        formats.choose("scene", (), scene, path)
    try:
        check_movie_array(source.shape, source.dtype, path)
    except InputError:
        if handle is not None:
            handle.close()
        raise
    return Movie(source, path, metadata=metadata, handle=handle)


def read_movie(path, *, channel=None, scene=None) -> np.ndarray:
    """Read a whole movie into memory as a ``[t, y, x]`` NumPy array (see :func:`open_movie`)."""
    with open_movie(path, channel=channel, scene=scene) as movie:
        return movie[:]


def movie_choices(path, *, scene=None) -> dict:
    """The scenes of a movie file and the channels of one of its scenes (the first by default).

    For a viewer that lets the user choose, or opens one layer per channel; reads no pixels.

    Returns
    -------
    dict
        ``{"scenes": tuple of str, "channels": tuple of str}``: empty tuples for files without
        scenes or channels (HDF5 movies, plain TIFF stacks, folders of frames).
    """
    with open_movie(path, channel=FIRST, scene=FIRST if scene is None else scene) as movie:
        return {"scenes": movie.metadata.scenes, "channels": movie.metadata.channels}
