"""Microscope movie files: OME-TIFF, Micro-Manager, MetaMorph and ImageJ TIFF, Nikon ND2, Zeiss CZI, Leica LIF.

A microscope file may hold several scenes (positions, series) and channels, and a time axis
and a Z axis. :func:`open_microscope_movie` picks one scene and one channel and returns a lazy
``[t, y, x]`` source (slicing reads only the frames asked for) and the file's
:class:`MovieMetadata` (pixel size in micrometres, frame interval in seconds).

Two engines read them:

- TIFF files (OME-TIFF, Micro-Manager stacks, MetaMorph ``.stk``, ImageJ hyperstacks) are read
  with ``tifffile``, the engine under bioio's own TIFF readers, opened once and memory-mapped
  when the pixels lie uncompressed in one block. bioio's OME-TIFF reader builds one task per plane
  when it opens a file and opens and parses the whole file again for every plane it reads (about
  0.3 s per frame of a 2000-frame movie, growing with the movie), which long movies cannot afford.
- Every other format (Nikon ND2, Zeiss CZI, Leica LIF, and whatever other bioio reader plugin
  is installed) is read through ``bioio`` (the optional extra ``exodeepfinder-torch[formats]``): a
  reader that reads sub-regions itself (ND2, CZI) is asked for the frames needed; the others
  through their dask array, one plane per chunk.

Choices, the same for every format: a file with several channels (or scenes) and none chosen is
an error listing them (no guess: the wrong channel would give wrong events). A channel or scene
is chosen by name or by index (a name that is a number wins over the index). A Z axis of size 1
is dropped; a file with several Z planes is refused with an explanation (a z-stack is no movie),
except in ImageJ and plain TIFF stacks whose frames ImageJ often labels as slices.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import warnings
import xml.etree.ElementTree as ET

import defusedxml
import defusedxml.ElementTree as defused
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

#: What to install to read ND2, CZI, LIF... files.
FORMATS_INSTALL_HINT = "pip install 'exodeepfinder-torch[formats]'"
#: Suffixes read through bioio, and the plugin each needs.
BIOIO_FORMATS = {".nd2": ("Nikon ND2", "bioio-nd2"), ".czi": ("Zeiss CZI", "bioio-czi"),
                 ".lif": ("Leica LIF", "bioio-lif")}
#: TIFF-based microscope files read with tifffile (besides .tif/.tiff): MetaMorph stacks.
METAMORPH_SUFFIXES = (".stk",)
OME_TIFF_SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf")

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


def is_microscope_file(path) -> bool:
    """True for the files :func:`open_microscope_movie` reads by their name (ND2, CZI, LIF, STK, OME-TIFF)."""
    name = Path(path).name.lower()
    return name.endswith(tuple(BIOIO_FORMATS) + METAMORPH_SUFFIXES + OME_TIFF_SUFFIXES)


# --------------------------------------------------------------------------------------------------
# choosing a channel or a scene


def _listing(names, limit=8) -> str:
    shown = ", ".join(f"{i} {name!r}" for i, name in enumerate(names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


#: ``channel=FIRST`` or ``scene=FIRST``: the first one, even if there are several (to list them).
FIRST = "<first>"


def choose(what: str, names, wanted, path, aliases=None) -> int:
    """The index of the ``what`` (``"channel"`` or ``"scene"``) ``wanted`` among ``names``.

    ``wanted`` is None (allowed only when there is one), an index, or a name (a text that is a
    number is an index unless a name is that text). ``aliases`` are other names of the same
    entries (e.g. OME image IDs beside their names). ``names`` is empty for files without
    channels (or scenes): then only None, 0 and :data:`FIRST` are accepted.

    Raises
    ------
    InputError
        Naming the file and listing the ``names`` when ``wanted`` matches none, or is None with several.
    """
    names = [str(name) for name in names]
    plural = f"{len(names)} {what}s" if len(names) != 1 else f"1 {what}"
    if wanted is None or (isinstance(wanted, str) and wanted == FIRST):
        if len(names) <= 1 or wanted is not None:
            return 0
        raise InputError(f"{path}: {plural} ({_listing(names)}); choose one with {what} (a name or an index)")
    if not names:
        if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool) and wanted == 0 \
                or isinstance(wanted, str) and wanted.strip() == "0":
            return 0
        raise InputError(f"{path}: no {what} {wanted!r}: the file has a single {what}, without name")
    if isinstance(wanted, str):
        text = wanted.strip()
        if text in names:
            return names.index(text)
        for alias_names in aliases or ():
            alias_names = [str(a) for a in alias_names]
            if text in alias_names:
                return alias_names.index(text)
        if re.fullmatch(r"[+-]?\d+", text):
            wanted = int(text)
        else:
            raise InputError(f"{path}: no {what} named {text!r}; the file has {plural}: {_listing(names)}")
    if isinstance(wanted, (bool, np.bool_)) or not isinstance(wanted, (int, np.integer)):
        raise InputError(f"{what}: expected a name or an index, got {wanted!r}")
    if not 0 <= wanted < max(len(names), 1):
        raise InputError(f"{path}: no {what} {wanted}; the file has {plural}"
                         + (f": {_listing(names)}" if names else ""))
    return int(wanted)


def _axis_problem(path, sizes: dict, time_axis_strict: bool) -> str | None:
    """Why ``sizes`` (axis letter -> size, after choosing the channel) is no 2D + time movie, or None."""
    n_t, n_z = sizes.get("T", 1), sizes.get("Z", 1)
    if sizes.get("S", 1) > 1:
        return f"{path}: RGB pixels ({sizes['S']} samples per pixel); expected one intensity per pixel"
    if n_z > 1 and n_t > 1:
        return (f"{path}: {n_t} time points of {n_z} Z planes each (a 3D time-lapse); ExoDeepFinder analyses "
                "2D + time movies (save a single plane, e.g. a maximum projection, as a time-lapse)")
    if n_z > 1 and time_axis_strict:
        return (f"{path}: {n_z} Z planes and 1 time point: a z-stack, not a movie. If these planes are in fact "
                "frames, the file's metadata calls them Z: fix it (e.g. in Fiji with Image > Properties: "
                f"frames = {n_z}, slices = 1) and save the movie again")
    return None


# --------------------------------------------------------------------------------------------------
# units


def _unit_key(unit) -> str:
    # the micro sign in its forms, and as ImageJ escapes it in its metadata
    key = str(unit).strip().lower()
    for micro in ("\\u00b5", "\u00b5", "\u03bc"):
        key = key.replace(micro, "µ")
    return key


def _length_um(value, unit) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    scale = _LENGTH_IN_UM.get(_unit_key(unit if unit is not None else "µm"))
    if scale is None or not math.isfinite(value) or value <= 0:
        return None
    return value * scale


def _time_s(value, unit) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    scale = _TIME_IN_S.get(_unit_key(unit if unit is not None else "s"))
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


# --------------------------------------------------------------------------------------------------
# keys of the lazy sources


def split_time_key(key, n_frames: int):
    """``(frame indices, single frame?, rest of the key)`` of an index ``key`` into a ``[t, ...]`` array."""
    if not isinstance(key, tuple):
        key = (key,)
    if not key:
        return np.arange(n_frames), False, ()
    time_key, rest = key[0], key[1:]
    if time_key is Ellipsis:
        return np.arange(n_frames), False, (Ellipsis,) + rest
    if isinstance(time_key, (int, np.integer)):
        return np.array([range(n_frames)[time_key]]), True, rest
    if isinstance(time_key, slice):
        return np.arange(n_frames)[time_key], False, rest
    indices = np.arange(n_frames)[np.asarray(time_key)]
    return np.atleast_1d(indices), False, rest


def _finish(block: np.ndarray, single: bool, rest) -> np.ndarray:
    if single:
        return block[0][rest] if rest else block[0]
    return block[(slice(None),) + tuple(rest)] if rest else block


# --------------------------------------------------------------------------------------------------
# TIFF files (tifffile)


def _units_or_none(read, *args):
    """``read(*args)``: (pixel size, frame interval) from a file's metadata; (None, None) if it is malformed.

    Metadata that cannot be understood costs the unit columns, never the movie.
    """
    try:
        return read(*args)
    except Exception:
        return None, None


def _tiff_kind(tif) -> str:
    if tif.is_ome and tif.ome_metadata:
        return "ome-tiff"
    if tif.is_micromanager:
        return "micromanager"
    if tif.is_stk:
        return "metamorph"
    if tif.is_imagej:
        return "imagej"
    return "tiff"


def _ome_images(xml: str):
    """``[(id, name, pixels element, namespace)]`` of the OME-XML images."""
    try:
        root = defused.fromstring(xml)
    except (ET.ParseError, defusedxml.DefusedXmlException) as err:
        raise InputError(f"OME-XML metadata: refused or unreadable ({type(err).__name__}: {err})") from None
    namespace = root.tag[:root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    images = []
    for image in root.findall(f"{namespace}Image"):
        pixels = image.find(f"{namespace}Pixels")
        if pixels is not None:
            images.append((image.get("ID", ""), image.get("Name"), pixels, namespace))
    return images


def _ome_channel_names(pixels, namespace, scene_index: int) -> list[str]:
    names = []
    for index, channel in enumerate(pixels.findall(f"{namespace}Channel")):
        names.append(channel.get("Name") or channel.get("ID") or f"Channel:{scene_index}:{index}")
    return names


def _ome_metadata(pixels, namespace, channel_index: int):
    """Pixel size (µm) and frame interval (s) of an OME ``Pixels`` element."""
    pixel_size = _pixel_size(_length_um(pixels.get("PhysicalSizeY"), pixels.get("PhysicalSizeYUnit")),
                             _length_um(pixels.get("PhysicalSizeX"), pixels.get("PhysicalSizeXUnit")))
    interval = _time_s(pixels.get("TimeIncrement"), pixels.get("TimeIncrementUnit"))
    if interval is None:  # else the acquisition time of each plane of the channel, first Z plane
        times = {}
        for plane in pixels.findall(f"{namespace}Plane"):
            if int(plane.get("TheC", 0)) == channel_index and int(plane.get("TheZ", 0)) == 0 \
                    and plane.get("DeltaT") is not None:
                value = plane.get("DeltaT")
                unit = plane.get("DeltaTUnit", "s")
                seconds = _time_s(value, unit) if float(value) != 0 else 0.0
                if seconds is not None:
                    times[int(plane.get("TheT", 0))] = seconds
        interval = _interval_from_times([times[t] for t in sorted(times)])
    return pixel_size, interval


def _imagej_metadata(tif, page):
    meta = tif.imagej_metadata or {}
    unit = meta.get("unit")
    pixel_size = None
    if unit is not None:
        pixel_size = _pixel_size(*(_length_um(_resolution_to_size(page, tag), unit)
                                   for tag in ("YResolution", "XResolution")))
    interval = _time_s(meta.get("finterval"), meta.get("tunit", "s")) if meta.get("finterval") else None
    return pixel_size, interval


def _resolution_to_size(page, tag):
    value = page.tags.valueof(tag)
    if not value or not value[0]:
        return None
    return value[1] / value[0]


def _metamorph_metadata(tif):
    meta = tif.stk_metadata or {}
    pixel_size = None
    unit = meta.get("CalibrationUnits")
    if unit:
        pixel_size = _pixel_size(_length_um(meta.get("YCalibration"), unit), _length_um(meta.get("XCalibration"), unit))
    interval = None
    created = meta.get("DatetimeCreated")
    if created is not None and len(created) > 1:
        seconds = (np.asarray(created) - np.asarray(created)[0]) / np.timedelta64(1, "ms") / 1000.0
        interval = _interval_from_times(seconds)
    return pixel_size, interval


def _micromanager_metadata(tif):
    summary = (tif.micromanager_metadata or {}).get("Summary") or {}
    side = _length_um(summary.get("PixelSize_um"), "µm")
    pixel_size = _pixel_size(side, side)
    interval = _time_s(summary.get("Interval_ms"), "ms")
    return pixel_size, interval


class TiffSeriesFrames:
    """One channel of one series of a TIFF file seen as a lazy ``[t, y, x]`` array.

    Memory-mapped when the series is stored uncompressed in one block; otherwise the pages of the
    frames asked for are read from the file, which stays open.
    """

    def __init__(self, path, tif, series_index: int, selection: dict, time_axis: str | None):
        series = tif.series[series_index]
        self.path = Path(path)
        self._tif = tif
        self._series = series_index
        axes, shape = series.axes, tuple(series.shape)
        self.dtype = np.dtype(series.dtype)
        height, width = shape[axes.index("Y")], shape[axes.index("X")]
        n_frames = shape[axes.index(time_axis)] if time_axis else 1
        self.shape = (n_frames, height, width)
        self.ndim = 3
        # position of each page in the series: every axis but Y, X and samples
        self._page_axes = [a for a in axes if a not in "YXS"]
        self._page_shape = tuple(shape[axes.index(a)] for a in self._page_axes)
        self._time_axis = time_axis
        self._selection = selection
        self._memmap = self._try_memmap(axes, shape)

    def _try_memmap(self, axes, shape):
        import tifffile

        series = self._tif.series[self._series]
        if series.dataoffset is None or getattr(series, "is_multifile", False):
            return None
        try:
            mapped = tifffile.memmap(self.path, series=self._series, mode="r")
        except Exception:  # compressed, tiled, or laid out in several blocks: read page by page
            return None
        if mapped.size != int(np.prod(shape)):
            return None
        mapped = mapped.reshape(shape)
        index = tuple(slice(None) if a in ("Y", "X") or a == self._time_axis else self._selection.get(a, 0)
                      for a in axes)
        view = mapped[index]
        return view if view.ndim == 3 else view[None]

    def _page_indices(self, frames) -> list[int]:
        coordinates = []
        for axis in self._page_axes:
            if axis == self._time_axis:
                coordinates.append(np.asarray(frames))
            else:
                coordinates.append(np.full(len(frames), self._selection.get(axis, 0)))
        if not coordinates:
            return [0] * len(frames)
        return np.ravel_multi_index(coordinates, self._page_shape).tolist()

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, key):
        if self._memmap is not None:
            return self._memmap[key]
        frames, single, rest = split_time_key(key, self.shape[0])
        if len(frames) == 0:
            block = np.empty((0,) + self.shape[1:], self.dtype)
        else:
            try:
                block = self._tif.asarray(key=self._page_indices(frames), series=self._series, maxworkers=1)
            except (OSError, RuntimeError, KeyError):
                raise
            except Exception as err:  # a damaged page (zlib.error...): the OSError that CheckedArray reports
                raise OSError(_reason(err)) from None
            block = np.asarray(block).reshape((len(frames),) + self.shape[1:])
        return _finish(block, single, rest)

    def close(self):
        self._tif.close()


def open_tiff_movie(path, channel=None, scene=None):
    """Open a TIFF movie file: ``(lazy [t, y, x] source or None, MovieMetadata, file handle or None)``.

    The source is None for a plain stack of frames of one channel, which the caller memory-maps
    as before (the metadata of ImageJ, MetaMorph and Micro-Manager files is still returned).
    """
    import tifffile

    path = Path(path)
    try:
        tif = tifffile.TiffFile(path, is_mmstack=False)
    except Exception as err:  # tifffile raises many types for corrupt files
        raise InputError(f"{path}: cannot read TIFF ({type(err).__name__}: {' '.join(str(err).split())})") from None
    keep_open = False
    try:
        kind = _tiff_kind(tif)
        if kind == "ome-tiff":
            result = _open_ome_tiff(path, tif, channel, scene)
        else:
            result = _open_other_tiff(path, tif, kind, channel, scene)
        keep_open = result[0] is not None
        return result + ((tif if keep_open else None),)
    except InputError:
        raise
    except Exception as err:
        raise InputError(f"{path}: cannot read TIFF ({type(err).__name__}: {' '.join(str(err).split())})") from None
    finally:
        if not keep_open:
            tif.close()


def _series_selection(path, series, time_axes: str, strict: bool):
    """``(time axis, number of channels)`` of one series of a TIFF file; InputError if it is no movie."""
    axes, shape = series.axes, tuple(series.shape)
    sizes = dict(zip(axes, shape))
    if "Y" not in sizes or "X" not in sizes:
        raise InputError(f"{path}: no image planes (axes {axes})")
    n_channels = sizes.get("C", 1)
    other = {a: n for a, n in sizes.items() if a not in "YXCS" and n > 1}
    problem = _axis_problem(path, {**sizes, "T": sizes.get("T", 1)}, strict)
    if problem:
        raise InputError(problem)
    time_axis = next((a for a in time_axes if a in other), None)
    if time_axis is None and not strict and len(other) == 1:
        time_axis = next(iter(other))
    extra = [a for a in other if a != time_axis]
    if extra:
        raise InputError(f"{path}: axes {axes} of shape {shape}: cannot tell which axis is time "
                         f"(found {', '.join(f'{a}={other[a]}' for a in other)})")
    return time_axis, n_channels


def _open_ome_tiff(path, tif, channel, scene):
    images = _ome_images(tif.ome_metadata)
    series = list(tif.series)
    if not series:
        raise InputError(f"{path}: no image in this OME-TIFF file")
    if len(images) != len(series):  # images without pixel data in this file (multi-file sets...)
        images = images[:len(series)] if len(images) > len(series) else images + [None] * (len(series) - len(images))
    scene_names = [(image[1] if image and image[1] else (image[0] if image else f"Image:{i}"))
                   for i, image in enumerate(images)]
    scene_ids = [(image[0] if image else f"Image:{i}") for i, image in enumerate(images)]
    scene_index = choose("scene", scene_names, scene, path, aliases=[scene_ids])
    chosen = series[scene_index]
    time_axis, n_channels = _series_selection(path, chosen, "T", strict=True)
    image = images[scene_index]
    channel_names = _ome_channel_names(image[2], image[3], scene_index) if image else []
    if len(channel_names) != n_channels:
        channel_names = [f"Channel:{scene_index}:{c}" for c in range(n_channels)]
    channel_index = choose("channel", channel_names, channel, path)
    if time_axis is None:
        raise InputError(f"{path}: a single image (1 time point), not a movie")
    pixel_size, interval = _units_or_none(_ome_metadata, image[2], image[3], channel_index) if image \
        else (None, None)
    if tif.is_micromanager and (pixel_size is None or interval is None):
        mm_size, mm_interval = _units_or_none(_micromanager_metadata, tif)
        pixel_size, interval = pixel_size or mm_size, interval or mm_interval
    metadata = MovieMetadata(pixel_size, interval, channel_names[channel_index], scene_names[scene_index],
                             tuple(channel_names), tuple(scene_names),
                             "micromanager" if tif.is_micromanager else "ome-tiff")
    source = TiffSeriesFrames(path, tif, scene_index, {"C": channel_index, "Z": 0}, time_axis)
    return source, metadata


def _open_other_tiff(path, tif, kind, channel, scene):
    series = list(tif.series)
    if not series:
        raise InputError(f"{path}: no image in this TIFF file")
    scene_names = [s.name or f"Series:{i}" for i, s in enumerate(series)] if len(series) > 1 else []
    scene_index = choose("scene", scene_names, scene, path)
    chosen = series[scene_index]
    page = chosen.pages[0] if chosen.pages and chosen.pages[0] is not None else tif.pages.first
    read_units = {"metamorph": _metamorph_metadata, "micromanager": _micromanager_metadata,
                  "imagej": lambda tif: _imagej_metadata(tif, page)}.get(kind)
    pixel_size, interval = _units_or_none(read_units, tif) if read_units else (None, None)
    planes = {a: n for a, n in zip(chosen.axes, chosen.shape) if a not in "YXS" and n > 1}
    # the single axis of planes of a stack is time, whatever its label (tifffile labels channels the
    # planes of a 3D array written as ImageJ without axes)
    n_channels = planes.get("C", 1) if len(planes) > 1 else 1
    channel_names = [f"Channel:{scene_index}:{c}" for c in range(n_channels)] if n_channels > 1 else []
    channel_index = choose("channel", channel_names, channel, path)
    metadata = MovieMetadata(pixel_size, interval, channel_names[channel_index] if channel_names else None,
                             scene_names[scene_index] if scene_names else None, tuple(channel_names),
                             tuple(scene_names), kind)
    if n_channels == 1 and scene_index == 0:
        return None, metadata  # a plain stack: the caller's fast path, unchanged
    time_axis, _ = _series_selection(path, chosen, "T", strict=False)
    if time_axis is None:
        raise InputError(f"{path}: a single image (1 time point), not a movie")
    return TiffSeriesFrames(path, tif, scene_index, {"C": channel_index}, time_axis), metadata


# --------------------------------------------------------------------------------------------------
# everything else (bioio)


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


def _reason(err: Exception) -> str:
    text = " ".join(str(err).split())
    text = text if len(text) <= 200 else text[:197] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


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
