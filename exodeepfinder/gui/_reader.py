"""napari reader: movies, segmentations and event lists of ExoDeepFinder.

- a movie (HDF5 file with a 3D ``dataset``, a TIFF stack, a folder of TIFF frames) opens as an
  image layer ``[t, y, x]``, read lazily;
- a segmentation (HDF5 ``dataset`` of int8 labels, or any file with ``scores``) opens as a
  labels layer, plus the event probability as an image layer when the file has ``scores``;
- an event list (reference XML object list, or CSV with columns x, y, z) opens as a points
  layer ``[t, y, x]`` whose other columns are features.

The reader only claims files it can read: an HDF5 file without ``dataset``, an XML file that
is not an object list or a CSV file without x, y, z columns is left to other readers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.h5 import DATASET
from ..io.formats import FIRST, is_microscope_file
from ..io.movie import H5_SUFFIXES, is_tiff, movie_choices
from ..io.segmentation import SCORES
from . import layers


def get_reader(path):
    """Return a function reading ``path`` into layers, or None if it is not an ExoDeepFinder file."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    path = Path(path)
    kind = _kind(path)
    return None if kind is None else _READERS[kind]


def _kind(path: Path) -> str | None:
    """``"movie"``, ``"segmentation"``, ``"events"`` or None, from a quick look at the file."""
    try:
        if path.is_dir():
            from ..io.movie import list_tiff_frames

            list_tiff_frames(path)
            return "movie"
        suffix = path.suffix.lower()
        if suffix in H5_SUFFIXES:
            return _h5_kind(path)
        if is_tiff(path) or is_microscope_file(path):
            movie_choices(path)  # raises InputError for what is not a movie (a single image, a z-stack...)
            return "movie"
        if suffix == ".csv":
            return "events" if _csv_has_coordinates(path) else None
        if suffix == ".xml":
            return "events" if _is_object_list(path) else None
    except (InputError, OSError, ValueError):
        return None
    return None


def _h5_kind(path: Path) -> str | None:
    import h5py

    with h5py.File(path, "r") as handle:
        if DATASET not in handle or not isinstance(handle[DATASET], h5py.Dataset):
            return None
        dataset = handle[DATASET]
        if dataset.ndim != 3:
            return None
        # the reference's rule: int8 arrays are label maps; a file with class scores is one too
        if dataset.dtype == np.int8 or SCORES in handle:
            return "segmentation"
        return "movie"


def _csv_has_coordinates(path: Path) -> bool:
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    columns = {name.strip().strip('"') for name in header.split(",")}
    return {"x", "y", "z"} <= columns


def _is_object_list(path: Path) -> bool:
    import xml.etree.ElementTree as ET

    import defusedxml
    import defusedxml.ElementTree as defused

    try:
        for _, element in defused.iterparse(path, events=("start",)):
            return element.tag == "objlist"
    except (ET.ParseError, defusedxml.DefusedXmlException):
        return False
    return False


def read_movie(path) -> list[tuple]:
    """An image layer of the movie, read lazily (frames are read when shown); one per channel.

    A microscope file with several scenes opens its first scene (the command-line tools and
    :func:`exodeepfinder.open_movie` choose another with ``scene``).
    """
    from ..io.movie import open_movie

    path = Path(path)
    if path.is_dir() or path.suffix.lower() in H5_SUFFIXES:
        return [layers.movie_layer(open_movie(path), name=layers.layer_name(path), path=path)]
    choices = movie_choices(path)
    scene = FIRST if len(choices["scenes"]) > 1 else None
    channels = choices["channels"]
    if len(channels) <= 1:
        return [layers.movie_layer(open_movie(path, scene=scene),
                                   name=layers.layer_name(path), path=path)]
    return [layers.movie_layer(open_movie(path, channel=index, scene=scene),
                               name=f"{layers.layer_name(path)} [{name}]", path=path)
            for index, name in enumerate(channels)]


def read_segmentation(path) -> list[tuple]:
    """A labels layer of the segmentation, and an image layer of its event probability if saved.

    Labels within the in-memory budget (:func:`exodeepfinder.inference.memory.in_memory_limit`, one byte
    per voxel) are read into memory, so that they can be edited; larger ones (a long movie's), and
    the probabilities, stay lazy: read frame by frame as they are shown, the file kept open.
    """
    from ..io.segmentation import open_segmentation
    from ..inference.memory import in_memory_limit

    labels, scores = open_segmentation(path)
    if labels.size <= in_memory_limit():
        handle = labels.file
        labels = labels[()].astype(np.int8, copy=False)
        if scores is None:
            handle.close()
    return layers.segmentation_layers(labels, scores, name=layers.layer_name(path), path=path)


def read_event_list(path) -> list[tuple]:
    """A points layer ``[t, y, x]`` of the events, their other columns as features."""
    from ..io.events import read_events

    return [layers.events_layer(read_events(path), name=layers.layer_name(path), path=path)]


def _read_with(function):
    def read(path):
        if isinstance(path, (list, tuple)):
            path = path[0]
        return function(Path(path))

    read.__doc__ = function.__doc__
    return read


_READERS = {"movie": _read_with(read_movie), "segmentation": _read_with(read_segmentation),
            "events": _read_with(read_event_list)}
