"""napari writers: a points layer as an event list (CSV or reference XML), a labels layer as a segmentation.

A reviewed points layer (feature ``review``) is written whole as CSV, states included; its XML, a
reference annotation, leaves out the rejected events (:func:`exodeepfinder.io.events.kept_events`).

napari calls each with the path the user chose, the layer's data and its attributes; files are
written atomically by the package's writers (:func:`exodeepfinder.io.events.write_events`,
:func:`exodeepfinder.io.segmentation.write_segmentation`). The file is written under exactly the
name napari gives (no extension is added: napari's save dialog confirmed that name, and only that
one, if it replaces a file), in the writer's format whatever the name ends with.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .layers import events_from_points


def _write_exactly(path, suffix: str, write) -> Path:
    """``write(target)`` with a target ending in ``suffix`` (the writers choose the format from it),
    published as ``path`` itself, atomically. ``path`` is the name the user confirmed: it is replaced."""
    from ..io.atomic import atomic_output

    path = Path(path)
    if path.suffix.lower() == suffix:
        return write(path)
    with atomic_output(path, overwrite=True) as tmp:
        inner = write(tmp.with_name(tmp.name + suffix))  # inside the same partial folder
        os.replace(inner, tmp)
    return path


def _write_points(path, suffix: str, data, attributes: dict) -> list[str]:
    from ..io.events import kept_events, write_events

    events = events_from_points(data, attributes.get("features"))
    if suffix == ".xml":
        events = kept_events(events)  # rejected detections are not events of a reference annotation
    return [str(_write_exactly(path, suffix, lambda target: write_events(events, target, overwrite=True)))]


def write_events_csv(path, data, attributes: dict) -> list[str]:
    """Write a points layer ``[t, y, x]`` and its features as an events CSV file."""
    return _write_points(path, ".csv", data, attributes)


def write_events_xml(path, data, attributes: dict) -> list[str]:
    """Write a points layer ``[t, y, x]`` as a reference ExoDeepFinder XML object list (rejected events left out)."""
    return _write_points(path, ".xml", data, attributes)


def write_segmentation(path, data, attributes: dict) -> list[str]:
    """Write a labels layer ``[t, y, x]`` (values 0, 1, 2) as a segmentation file (HDF5 ``dataset``, int8).

    A lazy layer (a long movie's segmentation shown from its file) is copied block of frames by
    block of frames, each block checked: memory holds one block, whatever the movie's length.
    """
    from ..io.segmentation import write_segmentation as write
    from ..io.segmentation import write_segmentation_blocks

    if isinstance(data, np.ndarray):
        return [str(_write_exactly(path, ".h5", lambda target: write(data, target, overwrite=True)))]
    shape = tuple(data.shape)
    if len(shape) != 3:
        raise ValueError(f"labels: expected a [t, y, x] label map, got shape {shape}")
    return [str(_write_exactly(path, ".h5", lambda target: write_segmentation_blocks(
        target, _label_blocks(data, path), shape, overwrite=True)))]


def _label_blocks(labels, path, step: int = 64):
    """Blocks of frames of a lazy label map, each checked to hold labels only, for ``write_segmentation_blocks``."""
    from types import SimpleNamespace

    from ..io.segmentation import check_label_values

    for start in range(0, labels.shape[0], step):
        block = np.asarray(labels[start:start + step])
        check_label_values(block, range(start, start + len(block)), path)
        yield SimpleNamespace(start=start, labels=block.astype(np.int8), scores=None)
