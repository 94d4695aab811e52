"""Segmentation files: the label map as ``dataset`` and, optionally, the class probabilities as ``scores``.

Layout (HDF5, the reference's): ``dataset`` int8 ``[t, y, x]`` (0 background, 1 bright spot,
2 event); ``scores`` float16 ``[t, 3, y, x]`` (probabilities of background, spot and event),
only when asked for. Both are chunked by frames and gzip-compressed.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..labels import LABELS
from .atomic import atomic_output
from .h5 import DATASET, open_h5

SCORES = "scores"


def write_segmentation_blocks(path, blocks, shape, *, save_scores: bool = False) -> Path:
    """Write a segmentation block of frames by block of frames, atomically.

    Parameters
    ----------
    path : str or Path
        Output HDF5 file.
    blocks : iterable of SegmentedBlock
        Consecutive blocks covering all frames, as yielded by
        :func:`exodeepfinder.inference.iter_segment` (with ``return_scores=save_scores``).
    shape : tuple of int
        ``(t, y, x)`` of the movie.
    save_scores : bool
        Also write the blocks' class probabilities as ``scores``.

    Returns
    -------
    Path
        ``path``. Memory holds one block at a time, whatever the length of the movie.
    """
    path = Path(path)
    n_frames, height, width = shape
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        labels = handle.create_dataset(DATASET, shape=(n_frames, height, width), dtype=np.int8,
                                       chunks=(min(n_frames, 16), height, width), compression="gzip")
        scores = None
        if save_scores:
            scores = handle.create_dataset(SCORES, shape=(n_frames, 3, height, width), dtype=np.float16,
                                           chunks=(min(n_frames, 4), 3, height, width), compression="gzip")
        for block in blocks:
            labels[block.start:block.stop] = block.labels
            if scores is not None:
                scores[block.start:block.stop] = block.scores
    return path


def write_segmentation(labels, path, *, scores=None) -> Path:
    """Write a label map (and optionally its class probabilities) as a segmentation file, atomically.

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        Values 0 (background), 1 (bright spot) and 2 (event); stored as int8.
    path : str or Path
        Output HDF5 file.
    scores : array-like of float, shape (t, 3, y, x), optional
        Class probabilities, stored as float16 ``scores``.

    Returns
    -------
    Path
    """
    from ..inference import SegmentedBlock

    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels: expected a [t, y, x] label map, got shape {labels.shape}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(LABELS)):
        raise ValueError(f"labels: expected whole numbers {min(LABELS)} to {max(LABELS)} "
                         f"({', '.join(LABELS.values())})")
    if scores is not None and tuple(np.shape(scores)) != (labels.shape[0], len(LABELS)) + labels.shape[1:]:
        raise ValueError(f"scores: shape {np.shape(scores)} does not match labels {labels.shape} (expected [t, 3, y, x])")
    step = 64
    blocks = (SegmentedBlock(start, min(start + step, len(labels)), labels[start:start + step].astype(np.int8),
                             None if scores is None else np.asarray(scores[start:start + step], np.float16))
              for start in range(0, len(labels), step))
    return write_segmentation_blocks(path, blocks, labels.shape, save_scores=scores is not None)


def read_segmentation(path):
    """Read a segmentation file into memory: its labels and, if saved, its class probabilities.

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x), or None
    """
    labels, scores = open_segmentation(path)
    try:
        return labels[()], (None if scores is None else scores[()])
    finally:
        labels.file.close()


def open_segmentation(path):
    """Open a segmentation file lazily: its labels and, if saved, its class probabilities.

    The file stays open while the returned datasets are referenced (close it with
    ``labels.file.close()``).

    Returns
    -------
    labels : h5py.Dataset, shape (t, y, x)
    scores : h5py.Dataset, shape (t, 3, y, x), or None
        None when the file has no ``scores``.

    Raises
    ------
    InputError
        If the file is not a segmentation, or its ``scores`` do not match its labels.
    """
    path = Path(path)
    labels = open_h5(path)
    shape = labels.shape
    if len(shape) != 3:
        labels.file.close()
        raise InputError(f"{path}: expected a 3D label map [t, y, x], found shape {shape}")
    if SCORES not in labels.file:
        return labels, None
    scores = labels.file[SCORES]
    scores_shape = scores.shape
    if len(scores_shape) != 4 or scores_shape[0] != shape[0] or scores_shape[2:] != shape[1:] or scores_shape[1] < 3:
        labels.file.close()
        raise InputError(f"{path}: '{SCORES}' of shape {scores_shape} does not match labels {shape} "
                         "(expected [t, 3, y, x])")
    return labels, scores
