"""napari writers: a points layer as an event list (CSV or reference XML), a labels layer as a segmentation.

A reviewed points layer (feature ``review``) is written whole as CSV, states included; its XML, a
reference annotation, leaves out the rejected events (:func:`exodeepfinder.io.events.kept_events`).

napari calls each with the path the user chose, the layer's data and its attributes; files are
written atomically by the package's writers (:func:`exodeepfinder.io.events.write_events`,
:func:`exodeepfinder.io.segmentation.write_segmentation`).
"""

from __future__ import annotations

from pathlib import Path

from .layers import events_from_points


def _with_suffix(path, suffix: str) -> Path:
    path = Path(path)
    return path if path.suffix.lower() == suffix else path.with_name(path.name + suffix)


def _write_points(path: Path, data, attributes: dict) -> list[str]:
    from ..io.events import kept_events, write_events

    events = events_from_points(data, attributes.get("features"))
    if path.suffix.lower() == ".xml":
        events = kept_events(events)  # rejected detections are not events of a reference annotation
    return [str(write_events(events, path))]


def write_events_csv(path, data, attributes: dict) -> list[str]:
    """Write a points layer ``[t, y, x]`` and its features as an events CSV file."""
    return _write_points(_with_suffix(path, ".csv"), data, attributes)


def write_events_xml(path, data, attributes: dict) -> list[str]:
    """Write a points layer ``[t, y, x]`` as a reference ExoDeepFinder XML object list (rejected events left out)."""
    return _write_points(_with_suffix(path, ".xml"), data, attributes)


def write_segmentation(path, data, attributes: dict) -> list[str]:
    """Write a labels layer ``[t, y, x]`` (values 0, 1, 2) as a segmentation file (HDF5 ``dataset``, int8)."""
    from ..io.segmentation import write_segmentation as write

    return [str(write(data, _with_suffix(path, ".h5")))]
