"""The pipeline on movie files: :func:`segment_file` and :func:`detect_file` read a movie file and write their outputs.

What ``edf_segment`` and ``exodeepfinder detect`` run per movie. Every output is written under a
temporary name and published complete, together with the others, or not at all
(:func:`~exodeepfinder.io.atomic.atomic_outputs`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .detection import detect
from .segmentation import iter_segment

#: The files :func:`detect_file` can write, and what each holds.
DETECTION_OUTPUTS = {
    "segmentation": "labels (0 background, 1 bright spot, 2 event) as HDF5, optionally the class probabilities",
    "events": "events with scores and measurements (CSV)",
    "annotation": "events as a reference ExoDeepFinder annotation (XML)",
    "figure": "events over the maximum projection (PNG)",
    "gallery": "crops of the best-scored events (PNG)",
}


def segment_file(movie, segmentation, model=None, *, save_scores: bool = False, pictures: dict | None = None,
                 channel=None, scene=None, overwrite: bool = False, progress=None, **options) -> Path:
    """Segment a movie into an HDF5 segmentation file: what ``edf_segment`` runs per movie.

    Parameters
    ----------
    movie : str, Path or movie
        A movie file (see :func:`~exodeepfinder.io.movie.open_movie`), or a movie already open
        (a lazy movie from ``open_movie`` or an array; it is not closed here).
    segmentation : str or Path
        The segmentation file to write: labels as ``dataset`` (int8), with ``save_scores`` also
        the class probabilities as ``scores`` (float16, ``[t, 3, y, x]``). Written block by
        block: memory holds one block of frames whatever the length of the movie.
    model : UNet or UNetWeights, optional
        See :func:`segment`.
    pictures : dict, optional
        Orthoslice pictures (PNG) to write too: ``{"movie": path, "labels": path}`` (either or both).
    channel, scene : str or int, optional
        For a movie file with several (see :func:`~exodeepfinder.io.movie.open_movie`).
    overwrite : bool
        Replace existing outputs (default: FileExistsError).
    progress : callable, optional
        ``progress(done, total)`` in network windows; returning False cancels (nothing is written).
    **options
        ``patch_size, precision, backend, tiling, max_memory``: see :func:`segment`.

    Returns
    -------
    Path
        The segmentation file. It and its pictures are published together, complete, or not at
        all (:func:`~exodeepfinder.io.atomic.atomic_outputs`).
    """
    import contextlib

    from ..io.atomic import atomic_outputs
    from ..io.movie import open_movie
    from ..io.segmentation import write_segmentation_blocks

    pictures = {name: Path(path) for name, path in (pictures or {}).items()}
    if set(pictures) - {"movie", "labels"}:
        raise ValueError(f"pictures: expected 'movie' and/or 'labels', got {sorted(pictures)}")
    with contextlib.ExitStack() as stack:
        if isinstance(movie, (str, Path)):
            movie = stack.enter_context(open_movie(movie, channel=channel, scene=scene))
        outputs = {"segmentation": Path(segmentation), **pictures}
        with atomic_outputs(outputs, overwrite=overwrite) as temporary:
            blocks = iter_segment(movie, model, return_scores=save_scores, progress=progress, **options)
            write_segmentation_blocks(temporary["segmentation"], blocks, movie.shape, save_scores=save_scores)
            if pictures:
                _save_orthoslices(movie, temporary["segmentation"], {name: temporary[name] for name in pictures})
    return Path(segmentation)


def _save_orthoslices(movie, segmentation: Path, pictures: dict):
    from ..io.figures import save_figure
    from ..io.h5 import open_h5
    from ..plots import orthoslices_figure

    labels = open_h5(segmentation)
    try:
        for name, volume, is_labels in (("movie", movie, False), ("labels", labels, True)):
            if name in pictures:
                save_figure(orthoslices_figure(volume, title=f"{segmentation.stem}: {name}", is_labels=is_labels),
                            pictures[name], dpi=80)
    finally:
        labels.file.close()

def detect_file(movie_path, outputs: dict, model=None, *, channel=None, scene=None, gallery_size: int = 40,
                overwrite: bool = False, progress=None, provenance=None, **options) -> pd.DataFrame:
    """Detect the events of a movie file and write the results: what ``exodeepfinder detect`` runs per movie.

    Parameters
    ----------
    movie_path : str or Path
        An HDF5 movie, a TIFF stack, a folder of TIFF frames or a microscope file (see
        :func:`~exodeepfinder.io.movie.open_movie`).
    outputs : dict
        Output path of each file to write, by name (keys of :data:`DETECTION_OUTPUTS`;
        ``segmentation`` is required, the others are optional).
    model : UNet or UNetWeights, optional
        See :func:`~exodeepfinder.pipeline.detect`.
    channel, scene : str or int, optional
        The channel and scene of a microscope file with several (see :func:`~exodeepfinder.io.movie.open_movie`).
    gallery_size : int
        Events shown in the gallery.
    overwrite : bool
        Replace existing outputs (default: FileExistsError before any work).
    progress : callable, optional
        ``progress(done, 100)`` in percent; returning False cancels (nothing is written).
    provenance : (path, callable), optional
        A provenance record published with the other outputs: ``callable(events)`` returns the
        record (a dict) written as JSON at ``path`` (see :mod:`exodeepfinder.provenance`).
    **options
        Passed to :func:`~exodeepfinder.pipeline.detect` (``save_scores``, ``patch_size``, ``precision``, ``min_size``...).

    Returns
    -------
    DataFrame
        The events; with ``t_s, y_um, x_um``... when the movie file gives its pixel size and
        frame interval (and ``options`` do not set them).

    Notes
    -----
    A movie that fits in memory (:func:`~exodeepfinder.inference.memory.in_memory_limit`) is
    read whole; when its segmentation fits too, it is segmented in memory and the segmentation
    file written once. Larger movies are read lazily and their segmentation streamed to the file.
    Without ``overwrite``, the check that an output does not exist is made again, in one step
    with its publishing.
    """
    import contextlib

    import numpy as np

    from ..inference.memory import SEGMENTATION_BYTES_PER_VOXEL, budget_beside, in_memory_limit
    from ..io.movie import open_movie

    outputs, record = _output_paths(outputs, provenance, overwrite)
    movie_path = Path(movie_path)
    with contextlib.ExitStack() as stack:
        movie = stack.enter_context(open_movie(movie_path, channel=channel, scene=scene))
        options.setdefault("pixel_size", movie.metadata.pixel_size)
        options.setdefault("frame_interval", movie.metadata.frame_interval)
        n_voxels, limit = int(np.prod(movie.shape)), in_memory_limit(options.get("max_memory"))
        held = n_voxels * movie.dtype.itemsize
        segment_in_memory = held + n_voxels * SEGMENTATION_BYTES_PER_VOXEL <= limit
        if held <= limit:
            movie = np.asarray(movie[0:movie.shape[0]])
            stack.close()  # in memory now: the file is not needed any more
            if segment_in_memory:  # the labels and probabilities are held too
                held += n_voxels * SEGMENTATION_BYTES_PER_VOXEL
            options["max_memory"] = budget_beside(options.get("max_memory"), held)  # the rest to the segmentation
        return _detect_and_write(movie, movie_path.name, outputs, model, gallery_size, overwrite, progress, options,
                                 record, segment_in_memory)


def _output_paths(outputs: dict, provenance, overwrite: bool):
    """The checked output paths of :func:`detect_file` (the provenance record's included) and the record's maker."""
    import errno

    unknown = set(outputs) - set(DETECTION_OUTPUTS)
    if unknown or "segmentation" not in outputs:
        raise ValueError(f"outputs: expected 'segmentation' and any of {sorted(DETECTION_OUTPUTS)}, got {sorted(outputs)}")
    outputs = {name: Path(path) for name, path in outputs.items()}
    record = None
    if provenance is not None:  # published with the others: a rerun never finds the results without it
        outputs["provenance"], record = Path(provenance[0]), provenance[1]
    if not overwrite:  # before any work; checked again when publishing
        for path in outputs.values():
            if path.exists():
                raise FileExistsError(errno.EEXIST, "already exists", str(path))
    return outputs, record


def _detect_and_write(movie, name, outputs, model, gallery_size, overwrite, progress, options, record=None,
                      segment_in_memory=False):
    import json

    from ..io.atomic import atomic_outputs
    from ..io.events import write_events
    from ..io.segmentation import write_segmentation
    from ..plots import events_figure, gallery_figure, max_projection

    with atomic_outputs(outputs, overwrite=overwrite) as temporary:
        if segment_in_memory:  # the segmentation written once, from memory
            save_scores = options.pop("save_scores", False)
            detection = detect(movie, model, progress=progress, **options)
            write_segmentation(detection.labels, temporary["segmentation"], overwrite=True,
                               scores=detection.scores if save_scores else None, no_contrast=detection.no_contrast)
        else:
            detection = detect(movie, model, segmentation=temporary["segmentation"], overwrite=True,
                               progress=progress, **options)
        events = detection.events
        for output in ("events", "annotation"):
            if output in temporary:
                write_events(events, temporary[output])
        if "figure" in temporary:
            title = f"{name}: {len(events)} events over the maximum projection"
            events_figure(max_projection(movie), events, title).savefig(temporary["figure"])
        if "gallery" in temporary:
            gallery_figure(movie, events, n_events=gallery_size).savefig(temporary["gallery"])
        if record is not None:
            Path(temporary["provenance"]).write_text(json.dumps(record(events), indent=2) + "\n")
    return events
