"""Training movies in memory: normalised frames, target labels and the objects to sample around."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..model.normalize import normalize_frames

#: Frames normalised at once when a movie is prepared (bounds the float32 temporary).
FRAMES_PER_BLOCK = 64


@dataclass
class TrainingMovie:
    """One movie of a training or validation set.

    Attributes
    ----------
    name : str
        Shown in messages.
    frames : ndarray of float16, shape (t, y, x)
        The movie normalised as for inference (:func:`~exodeepfinder.inference.normalize_frames`),
        in memory or in a disk-backed memory map.
    labels : ndarray of int8, shape (t, y, x)
        Target segmentation: 0 background, 1 bright spot, 2 event.
    objects : DataFrame
        Objects to sample patches around: ``t, y, x, class_label``.
    """

    name: str
    frames: np.ndarray
    labels: np.ndarray
    objects: pd.DataFrame
    _files: list = field(default_factory=list, repr=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.frames.shape)

    def close(self) -> None:
        """Release the memory maps of a movie prepared on disk and delete their files."""
        self.frames = self.labels = None
        for path in self._files:
            Path(path).unlink(missing_ok=True)
        self._files = []


def _allocate(shape, dtype, folder):
    if folder is None:
        return np.empty(shape, dtype), None
    fd, path = tempfile.mkstemp(prefix=".edf_train_", suffix=".npy", dir=folder)
    os.close(fd)
    return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=tuple(shape)), path


def prepare_movie(name: str, movie, labels, objects: pd.DataFrame, *, cache_folder=None,
                  progress=None) -> TrainingMovie:
    """Normalise a movie once (to float16) and pair it with its labels and objects.

    Parameters
    ----------
    name : str
        Name of the movie (for messages).
    movie : array-like, shape (t, y, x)
        Raw movie (a NumPy array or a lazily read h5py dataset): read by blocks of frames.
    labels : array-like of int, shape (t, y, x)
        Target segmentation (0, 1 or 2).
    objects : DataFrame
        ``t, y, x, class_label`` of the objects to sample patches around.
    cache_folder : path, optional
        Keep the normalised frames and the labels in memory maps in this folder instead of
        in memory (for training sets larger than memory); :meth:`TrainingMovie.close` deletes them.
    progress : callable, optional
        ``progress(done_frames, total_frames)``.

    Returns
    -------
    TrainingMovie

    Raises
    ------
    ValueError
        If the shapes differ or a label is not 0, 1 or 2.
    """
    from ..progress import report

    shape = tuple(movie.shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: expected a [t, y, x] movie, got shape {shape}")
    if tuple(labels.shape) != shape:
        raise ValueError(f"{name}: target of shape {tuple(labels.shape)} differs from the movie's {shape}")
    frames, frames_file = _allocate(shape, np.float16, cache_folder)
    target, target_file = _allocate(shape, np.int8, cache_folder)
    for start in range(0, shape[0], FRAMES_PER_BLOCK):
        stop = min(start + FRAMES_PER_BLOCK, shape[0])
        frames[start:stop] = normalize_frames(np.asarray(movie[start:stop]))
        block = np.asarray(labels[start:stop])
        if block.size and (block.min() < 0 or block.max() > 2):
            raise ValueError(f"target labels must be 0, 1 or 2, found {block.min()} to {block.max()}")
        target[start:stop] = block
        report(progress, stop, shape[0])
    objects = objects[["t", "y", "x", "class_label"]].reset_index(drop=True)
    return TrainingMovie(name, frames, target, objects, [p for p in (frames_file, target_file) if p])
