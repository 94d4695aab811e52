"""Segmentation files: the label map as ``dataset`` and, optionally, the class probabilities as ``scores``.

Layout (HDF5, the reference's): ``dataset`` int8 ``[t, y, x]`` (0 background, 1 bright spot,
2 event); ``scores`` float16 ``[t, 3, y, x]`` (probabilities of background, spot and event),
only when asked for. Both are chunked by frames and gzip-compressed. The files this package
writes carry the attribute ``exodeepfinder_content = "segmentation"`` (:data:`SEGMENTATION_ATTRS`);
files without it (e.g. made by the reference tools) are accepted when their values are whole
numbers from 0 to 2, which a raw movie given by mistake never is.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..labels import LABELS
from .atomic import atomic_output
from .h5 import DATASET, create_h5, open_h5

SCORES = "scores"
#: File attributes that mark a label map written by this package (segmentations, targets, spot masks).
SEGMENTATION_ATTRS = {"exodeepfinder_content": "segmentation"}
#: Frames per HDF5 chunk of the labels and of the scores.
LABEL_CHUNK_FRAMES, SCORE_CHUNK_FRAMES = 16, 4


def is_marked_segmentation(attrs) -> bool:
    """True if HDF5 attributes ``attrs`` carry the marker of the label maps this package writes."""
    return all(_text(attrs.get(name)) == value for name, value in SEGMENTATION_ATTRS.items())


def _text(value):
    return value.decode() if isinstance(value, bytes) else (str(value) if value is not None else None)


def check_label_dtype(dtype, path) -> None:
    """Raise InputError unless ``dtype`` can hold labels (integers, booleans, or floats checked when read)."""
    if np.dtype(dtype).kind not in "biuf":
        raise InputError(f"{path}: values of type {np.dtype(dtype)} are not labels "
                         f"(expected whole numbers {min(LABELS)} to {max(LABELS)})")


def check_label_values(block, frames, path) -> None:
    """Raise InputError if a block of a label map holds anything but whole numbers 0 to 2 (see :data:`LABELS`).

    ``frames`` are the indices in the file of the frames of ``block``; the message names the first bad one.
    """
    block = np.asarray(block)
    if block.dtype.kind == "b" or block.size == 0:
        return
    low, high = min(LABELS), max(LABELS)
    bad = (block < low) | (block > high)
    if block.dtype.kind == "f":
        bad |= ~np.isfinite(block) | (block != np.round(block))
    if not bad.any():
        return
    if block.ndim == 3 and len(frames) == len(block):
        first = int(np.flatnonzero(bad.reshape(len(block), -1).any(axis=1))[0])
        t, values = int(frames[first]), block[first][bad[first]]
    else:
        t, values = int(frames[0]), block[bad]
    shown = values.max() if np.isfinite(values).all() else values[~np.isfinite(values)][0]
    raise InputError(f"{path}: not a segmentation: frame t={t} holds the value {shown:g} (a segmentation "
                     f"holds whole numbers {low} to {high}: {', '.join(f'{k} {v}' for k, v in LABELS.items())}); "
                     "is it a movie?")


#: Attribute of a segmentation file listing the movie frames without contrast (normalised to zeros).
NO_CONTRAST_ATTR = "frames_without_contrast"


def write_segmentation_blocks(path, blocks, shape, *, save_scores: bool = False, overwrite: bool = False,
                              scores_path=None) -> Path:
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
    overwrite : bool
        Replace ``path`` if it exists (False: FileExistsError, the existing file untouched).
    scores_path : str or Path, optional
        With ``save_scores``: write the class probabilities as ``scores`` in this other file (a
        scratch file, written directly: e.g. in the partial folder of ``path``) instead of ``path``.

    Returns
    -------
    Path
        ``path``. Memory holds one block at a time (and one chunk), whatever the length of the movie.
        The frames the blocks list as without contrast are recorded in the attribute
        ``frames_without_contrast`` (absent when there are none).
    """
    path = Path(path)
    n_frames, height, width = shape
    with contextlib.ExitStack() as files:
        tmp = files.enter_context(atomic_output(path, overwrite=overwrite))
        handle = files.enter_context(create_h5(tmp))
        for name, value in SEGMENTATION_ATTRS.items():
            handle.attrs[name] = value
        labels = handle.create_dataset(DATASET, shape=(n_frames, height, width), dtype=np.int8,
                                       chunks=(min(n_frames, LABEL_CHUNK_FRAMES), height, width),
                                       compression="gzip")
        outputs = [_ChunkWriter(labels)]
        if save_scores:
            scores_file = handle if scores_path is None else files.enter_context(create_h5(scores_path))
            scores = scores_file.create_dataset(SCORES, shape=(n_frames, 3, height, width), dtype=np.float16,
                                                chunks=(min(n_frames, SCORE_CHUNK_FRAMES), 3, height, width),
                                                compression="gzip")
            outputs.append(_ChunkWriter(scores))
        no_contrast = []
        for block in blocks:
            outputs[0].write(block.start, block.labels)
            if save_scores:
                outputs[1].write(block.start, block.scores)
            no_contrast.extend(getattr(block, "no_contrast", ()))
        for output in outputs:
            output.finish()
        if no_contrast:  # provenance: these frames were blank to the network
            handle.attrs[NO_CONTRAST_ATTR] = np.asarray(no_contrast, np.int64)
    return path


class _ChunkWriter:
    """Write consecutive blocks of frames of any length to a chunked dataset in whole chunks."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.step = dataset.chunks[0]
        self.pending = []
        self.start = 0

    def write(self, start: int, frames) -> None:
        if start != self.start + sum(len(p) for p in self.pending):
            raise ValueError(f"blocks: frame {start} comes out of order")
        self.pending.append(np.asarray(frames))
        n_pending = sum(len(p) for p in self.pending)
        if n_pending >= self.step:
            data = np.concatenate(self.pending)
            whole = (len(data) // self.step) * self.step
            self.dataset[self.start:self.start + whole] = data[:whole]
            self.start += whole
            self.pending = [data[whole:]] if whole < len(data) else []

    def finish(self) -> None:
        if self.pending:
            data = np.concatenate(self.pending)
            self.dataset[self.start:self.start + len(data)] = data
            self.start += len(data)
            self.pending = []
        if self.start != self.dataset.shape[0]:
            raise ValueError(f"blocks: {self.start} frames written, expected {self.dataset.shape[0]}")


def write_segmentation(labels, path, *, scores=None, overwrite: bool = False, no_contrast=()) -> Path:
    """Write a label map (and optionally its class probabilities) as a segmentation file, atomically.

    Parameters
    ----------
    labels : array-like of int, shape (t, y, x)
        Values 0 (background), 1 (bright spot) and 2 (event); stored as int8.
    path : str or Path
        Output HDF5 file.
    scores : array-like of float, shape (t, 3, y, x), optional
        Class probabilities, stored as float16 ``scores``.
    overwrite : bool
        Replace ``path`` if it exists (False: FileExistsError, the existing file untouched).
    no_contrast : sequence of int
        The frames without contrast, which the network saw blank: recorded as :data:`NO_CONTRAST_ATTR`.

    Returns
    -------
    Path
    """
    from types import SimpleNamespace

    labels = np.asarray(labels)
    if labels.ndim != 3:
        raise ValueError(f"labels: expected a [t, y, x] label map, got shape {labels.shape}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(LABELS)):
        raise ValueError(f"labels: expected whole numbers {min(LABELS)} to {max(LABELS)} "
                         f"({', '.join(LABELS.values())})")
    if scores is not None and tuple(np.shape(scores)) != (labels.shape[0], len(LABELS)) + labels.shape[1:]:
        raise ValueError(f"scores: shape {np.shape(scores)} does not match labels {labels.shape} (expected [t, 3, y, x])")
    step = 64
    blocks = (SimpleNamespace(start=start, labels=labels[start:start + step].astype(np.int8),
                              scores=None if scores is None else np.asarray(scores[start:start + step], np.float16),
                              no_contrast=tuple(t for t in no_contrast if start <= t < start + step))
              for start in range(0, len(labels), step))
    return write_segmentation_blocks(path, blocks, labels.shape, save_scores=scores is not None, overwrite=overwrite)


def read_segmentation(path):
    """Read a segmentation file into memory: its labels and, if saved, its class probabilities.

    Returns
    -------
    labels : ndarray of int8, shape (t, y, x)
    scores : ndarray of float16, shape (t, 3, y, x), or None

    Raises
    ------
    InputError
        As :func:`open_segmentation`.
    """
    labels, scores = open_segmentation(path)
    try:
        return labels[:], (None if scores is None else scores[:])
    finally:
        labels.close()


def open_segmentation(path):
    """Open a segmentation file lazily: its labels and, if saved, its class probabilities.

    The file stays open until ``labels.close()`` (or ``labels.file.close()``). Every read is
    checked: a file without this package's marker must hold whole numbers 0 to 2 (a raw movie
    given by mistake is refused when its first frames are read), and a damaged file raises
    InputError naming it.

    Returns
    -------
    labels : CheckedArray, shape (t, y, x)
    scores : CheckedArray, shape (t, 3, y, x), or None
        None when the file has no ``scores``.

    Raises
    ------
    InputError
        If the file is not a segmentation, or its ``scores`` do not match its labels.
    """
    from .checked import CheckedArray

    path = Path(path)
    labels = open_h5(path)
    handle = labels.file
    try:
        shape = labels.shape
        if len(shape) != 3:
            raise InputError(f"{path}: expected a 3D label map [t, y, x], found shape {shape}")
        check_label_dtype(labels.dtype, path)
        marked = is_marked_segmentation(handle.attrs) and labels.dtype.kind in "iub"
        checked_labels = CheckedArray(labels, path, check=None if marked else check_label_values, handle=handle)
        if SCORES not in handle:
            return checked_labels, None
        scores = handle[SCORES]
        scores_shape = scores.shape
        if not isinstance(scores, type(labels)) or len(scores_shape) != 4 or scores_shape[0] != shape[0] \
                or scores_shape[2:] != shape[1:] or scores_shape[1] < 3:
            raise InputError(f"{path}: '{SCORES}' of shape {getattr(scores, 'shape', None)} does not match labels "
                             f"{shape} (expected [t, 3, y, x])")
        if scores.dtype.kind != "f":
            raise InputError(f"{path}: '{SCORES}' of type {scores.dtype}, expected probabilities (floats)")
        return checked_labels, CheckedArray(scores, path)
    except BaseException:
        handle.close()
        raise
