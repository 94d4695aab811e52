"""Patches for training: drawn around annotated objects, equally many per class ("bootstrap").

For each patch of a batch (the reference recipe):

1. a class is drawn uniformly among the classes of the objects, then an object of that class
   uniformly among all movies' objects of the class, so rare events weigh as much as the
   many bright spots;
2. the patch centre is the object's position plus a uniform random integer shift in
   ``[-random_shift, random_shift]`` on each axis (t, y, x); the patch is then moved, if needed,
   to lie inside the movie;
3. with augmentation (training batches), y and x are swapped with probability 1/2, and y and x
   are each flipped with probability 1/2 (the same for the patch and its labels).

Patches are cubes of ``patch_size`` frames x pixels x pixels cut with NumPy slicing from the
normalised float16 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Batch:
    """A batch of patches.

    Attributes
    ----------
    frames : ndarray of float32, shape (n, 1, p, p, p)
        Normalised movie patches (channel axis 1, as the network takes them).
    labels : ndarray of int8, shape (n, p, p, p)
        Target class of every voxel.
    """

    frames: np.ndarray
    labels: np.ndarray


class PatchSampler:
    """Draws batches of patches around the objects of a set of movies.

    Parameters
    ----------
    movies : list of TrainingMovie
        Movies with ``frames``, ``labels`` and ``objects`` (see :mod:`exodeepfinder.training.data`).
    patch_size : int
        Side of the cubic patches (frames = pixels = ``patch_size``).
    random_shift : int
        Largest shift (voxels, each axis) of a patch centre from its object.
    rng : numpy.random.Generator
        Source of randomness (the sampler's draws depend only on it).
    augment : bool
        Random y/x swaps and flips.

    Raises
    ------
    ValueError
        If a movie is smaller than the patch on some axis, or the movies hold no object.
    """

    def __init__(self, movies, patch_size: int, random_shift: int, rng: np.random.Generator, *,
                 augment: bool = True):
        self.movies = list(movies)
        self.patch_size = int(patch_size)
        self.random_shift = int(random_shift)
        self.rng = rng
        self.augment = augment
        for movie in self.movies:
            if min(movie.shape) < self.patch_size:
                raise ValueError(f"{movie.name}: movie of shape {movie.shape} is smaller than the "
                                 f"patch size {self.patch_size}")
        # All objects in one table: movie index, integer position, class.
        positions, movie_index, classes = [], [], []
        for index, movie in enumerate(self.movies):
            table = movie.objects
            position = np.rint(table[["t", "y", "x"]].to_numpy(float)).astype(np.int64)
            positions.append(np.clip(position, 0, np.asarray(movie.shape) - 1))
            movie_index.append(np.full(len(table), index))
            classes.append(table["class_label"].to_numpy(int))
        self.positions = np.concatenate(positions) if positions else np.zeros((0, 3), np.int64)
        self.movie_index = np.concatenate(movie_index) if movie_index else np.zeros(0, int)
        object_classes = np.concatenate(classes) if classes else np.zeros(0, int)
        if len(object_classes) == 0:
            raise ValueError("no annotated object to sample patches around")
        self.classes = np.unique(object_classes)
        self._members = [np.flatnonzero(object_classes == c) for c in self.classes]

    def draw_objects(self, n: int) -> np.ndarray:
        """Indices of ``n`` objects: a uniform class, then a uniform object of that class."""
        chosen_class = self.rng.integers(len(self.classes), size=n)
        picks = np.empty(n, np.int64)
        for class_index, members in enumerate(self._members):
            where = np.flatnonzero(chosen_class == class_index)
            picks[where] = members[self.rng.integers(len(members), size=len(where))]
        return picks

    def patch_starts(self, objects: np.ndarray) -> np.ndarray:
        """First voxel ``(t, y, x)`` of the patch of each object (random shift, kept inside the movie)."""
        shift = self.rng.integers(-self.random_shift, self.random_shift + 1, size=(len(objects), 3))
        starts = self.positions[objects] + shift - self.patch_size // 2
        shapes = np.asarray([self.movies[i].shape for i in self.movie_index[objects]]).reshape(-1, 3)
        return np.clip(starts, 0, shapes - self.patch_size)

    def sample(self, batch_size: int) -> Batch:
        """Draw a batch of ``batch_size`` patches."""
        objects = self.draw_objects(batch_size)
        starts = self.patch_starts(objects)
        p = self.patch_size
        frames = np.empty((batch_size, 1, p, p, p), np.float32)
        labels = np.empty((batch_size, p, p, p), np.int8)
        if self.augment:
            swap, flip_y, flip_x = self.rng.random((3, batch_size)) < 0.5
        for i, (movie_index, (t, y, x)) in enumerate(zip(self.movie_index[objects], starts)):
            movie = self.movies[movie_index]
            region = (slice(t, t + p), slice(y, y + p), slice(x, x + p))
            patch, target = movie.frames[region], movie.labels[region]
            if self.augment:
                view = (slice(None), slice(None, None, -1 if flip_y[i] else 1),
                        slice(None, None, -1 if flip_x[i] else 1))
                patch, target = patch[view], target[view]
                if swap[i]:
                    patch, target = patch.transpose(0, 2, 1), target.transpose(0, 2, 1)
            frames[i, 0] = patch
            labels[i] = target
        return Batch(frames, labels)
