"""TIFF movie files read with ``tifffile``: OME-TIFF, Micro-Manager, MetaMorph ``.stk``, ImageJ hyperstacks.

``tifffile`` is the engine under bioio's own TIFF readers; a file is opened once and memory-mapped
when the pixels lie uncompressed in one block, else only the pages of the frames asked for are
read and decoded (compressed stacks included). bioio's OME-TIFF reader builds one task per plane
when it opens a file and opens and parses the whole file again for every plane it reads (about
0.3 s per frame of a 2000-frame movie, growing with the movie), which long movies cannot afford.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import defusedxml
import defusedxml.ElementTree as defused
import numpy as np

from ...errors import InputError
from .choice import _axis_problem, choose
from .metadata import (MovieMetadata, _interval_from_times, _length_um, _pixel_size, _time_s,
                       _units_or_none)
from .sources import _finish, _reason, split_time_key


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

    def __init__(self, path, tif, series_index: int, selection: dict, time_axis: str | int | None):
        series = tif.series[series_index]
        self.path = Path(path)
        self._tif = tif
        self._series = series_index
        axes, shape = series.axes, tuple(series.shape)
        self.dtype = np.dtype(series.dtype)
        height, width = shape[axes.index("Y")], shape[axes.index("X")]
        # axes are handled by position: tifffile names every axis of a plain shaped stack "Q" (QQYX)
        time = axes.index(time_axis) if isinstance(time_axis, str) else time_axis
        n_frames = shape[time] if time is not None else 1
        self.shape = (n_frames, height, width)
        self.ndim = 3
        # position of each page in the series: every axis but Y, X and samples
        self._page_axes = [i for i, a in enumerate(axes) if a not in "YXS"]
        self._page_shape = tuple(shape[i] for i in self._page_axes)
        self._time = time
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
        index = tuple(slice(None) if a in ("Y", "X") or i == self._time else self._selection.get(a, 0)
                      for i, a in enumerate(axes))
        view = mapped[index]
        return view if view.ndim == 3 else view[None]

    def _page_indices(self, frames) -> list[int]:
        axes = self._tif.series[self._series].axes
        coordinates = []
        for position in self._page_axes:
            if position == self._time:
                coordinates.append(np.asarray(frames))
            else:
                coordinates.append(np.full(len(frames), self._selection.get(axes[position], 0)))
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

    The source is None for a plain stack of frames of one channel stored uncompressed in one block,
    which the caller memory-maps as before (the metadata of ImageJ, MetaMorph and Micro-Manager
    files is still returned). A compressed stack is read page by page: slicing decodes only the
    frames asked for, never the whole file.
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
        if chosen.dataoffset is not None:
            return None, metadata  # a plain stack in one block: the caller memory-maps it
        # compressed (or scattered): read page by page, only the frames asked for, never the whole file.
        # Judged by position, as the caller's memory map is squeezed: the single axis of planes is time,
        # whatever its label (a shaped stack names every axis "Q"); more than one is refused unread
        larger = [i for i, (a, n) in enumerate(zip(chosen.axes, chosen.shape)) if a not in "YX" and n > 1]
        if len(larger) > 1:
            squeezed = tuple(n for n in chosen.shape if n > 1)
            raise InputError(f"{path}: expected a stack of 2D frames [t, y, x], found shape {squeezed}")
        if not larger or chosen.axes[larger[0]] == "S":
            return None, metadata  # a single image: the caller reads its one page (and refuses it)
        return TiffSeriesFrames(path, tif, scene_index, {}, larger[0]), metadata
    time_axis, _ = _series_selection(path, chosen, "T", strict=False)
    if time_axis is None:
        raise InputError(f"{path}: a single image (1 time point), not a movie")
    return TiffSeriesFrames(path, tif, scene_index, {"C": channel_index}, time_axis), metadata
