"""Patches for training: drawn around annotated objects, equally many per class ("bootstrap").

For each patch of a batch (the reference recipe):

1. a class is drawn uniformly among the classes of the objects, then an object of that class
   uniformly among all movies' objects of the class, so rare events weigh as much as the
   many bright spots (optionally, per track, and a fraction of them at the first frame of a
   track: where a spot appears, the hard negatives of an event detector);
2. the patch centre is the object's position plus a uniform random integer shift in
   ``[-random_shift, random_shift]`` on each axis (t, y, x); the patch is then moved, if needed,
   to lie inside the movie;
3. optionally (the default recipe), a fraction of the patches is placed anywhere in the movies
   instead, so that the network also sees the background far from any object, and patches may
   reach past the movie's first and last frames and its edges, filled with zeros there, as
   the segmentation pads movies with zeros: the network then learns that a spot present
   from the first frame on has not just appeared;
4. with augmentation (training batches), y and x are swapped with probability 1/2, and y and x
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
    background_fraction : float
        Fraction of the patches placed uniformly at random in the movies (a movie drawn in
        proportion to its number of voxels) instead of around an object.
    outside : int
        Voxels a patch may reach past the movie on each side (zero frames, background labels);
        0 keeps patches inside the movie (the reference).
    per_track : bool
        Within a class, draw objects in inverse proportion to the number of objects of their
        track (the 3D connected component of that class's labels that holds them) instead of
        uniformly: a spot seen in one frame (a flash) then weighs as much as a vesicle docked
        for a hundred frames, which the object lists hold once per frame.
    onsets : float
        Fraction of the draws of each class made among its objects at the first frame of their
        track (a spot appearing: a flash, a blink, a vesicle arriving), uniformly (per track
        with ``per_track``: a track has one first frame).

    Raises
    ------
    ValueError
        If a movie is smaller than the patch on some axis, or the movies hold no object.
    """

    def __init__(self, movies, patch_size: int, random_shift: int, rng: np.random.Generator, *,
                 augment: bool = True, background_fraction: float = 0.0, outside: int = 0,
                 per_track: bool = False, onsets: float = 0.0):
        if not 0 <= outside < patch_size:
            raise ValueError(f"outside: must be between 0 and the patch size - 1, got {outside}")
        if not 0 <= background_fraction <= 1:
            raise ValueError(f"background_fraction: must be between 0 and 1, got {background_fraction}")
        if not 0 <= onsets <= 1:
            raise ValueError(f"onsets: must be between 0 and 1, got {onsets}")
        self.onsets = float(onsets)
        self.movies = list(movies)
        self.background_fraction = float(background_fraction)
        self.patch_size = int(patch_size)
        self.random_shift = int(random_shift)
        self.rng = rng
        self.augment = augment
        self.outside = int(outside)
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
        self._chances = None
        self._onset_members = None
        if per_track or onsets > 0:
            counts, first = self._tracks(object_classes)
            if per_track:
                weights = 1.0 / counts
                self._chances = [weights[m] / weights[m].sum() for m in self._members]
            if onsets > 0:
                self._onset_members = [m[first[m]] for m in self._members]

    def _tracks(self, object_classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each object, the number of objects of its class in its track (the 3D connected
        component of its class's voxels; 1 off them), and whether it lies at the track's first frame."""
        from scipy import ndimage as ndi

        counts, first = np.ones(len(object_classes)), np.ones(len(object_classes), bool)
        for index, movie in enumerate(self.movies):
            mine = np.flatnonzero(self.movie_index == index)
            for label in np.unique(object_classes[mine]):
                objects = mine[object_classes[mine] == label]
                tracks, _ = ndi.label(np.asarray(movie.labels) == label)
                track = tracks[tuple(self.positions[objects].T)]
                on_track = objects[track > 0]
                ids, where, sizes = np.unique(track[track > 0], return_inverse=True, return_counts=True)
                counts[on_track] = sizes[where]
                starts = np.full(len(ids), np.iinfo(np.int64).max)
                np.minimum.at(starts, where, self.positions[on_track, 0])
                first[on_track] = self.positions[on_track, 0] == starts[where]
        return counts, first

    def draw_objects(self, n: int) -> np.ndarray:
        """Indices of ``n`` objects: a uniform class, then an object of that class (uniformly, or per track)."""
        chosen_class = self.rng.integers(len(self.classes), size=n)
        picks = np.empty(n, np.int64)
        at_onset = self.rng.random(n) < self.onsets if self.onsets > 0 else np.zeros(n, bool)
        for class_index, members in enumerate(self._members):
            where = np.flatnonzero((chosen_class == class_index) & ~at_onset)
            if self._chances is None:
                picks[where] = members[self.rng.integers(len(members), size=len(where))]
            else:
                picks[where] = members[self.rng.choice(len(members), size=len(where), p=self._chances[class_index])]
            where = np.flatnonzero((chosen_class == class_index) & at_onset)
            if len(where):
                onset_members = self._onset_members[class_index]
                picks[where] = onset_members[self.rng.integers(len(onset_members), size=len(where))]
        return picks

    def patch_starts(self, objects: np.ndarray) -> np.ndarray:
        """First voxel ``(t, y, x)`` of the patch of each object (random shift, kept within ``outside`` of the movie)."""
        shift = self.rng.integers(-self.random_shift, self.random_shift + 1, size=(len(objects), 3))
        starts = self.positions[objects] + shift - self.patch_size // 2
        shapes = np.asarray([self.movies[i].shape for i in self.movie_index[objects]]).reshape(-1, 3)
        return np.clip(starts, -self.outside, shapes - self.patch_size + self.outside)

    def random_starts(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Movie index and first voxel of ``n`` patches placed uniformly at random."""
        span = 2 * self.outside - self.patch_size + 1
        sizes = np.asarray([np.prod(np.asarray(m.shape) + span) for m in self.movies], float)
        movie_index = self.rng.choice(len(self.movies), size=n, p=sizes / sizes.sum())
        highs = np.asarray([self.movies[i].shape for i in movie_index]).reshape(-1, 3) + span
        return movie_index, (self.rng.random((n, 3)) * highs).astype(np.int64) - self.outside

    def _cut(self, movie, start):
        """Frames and labels of the patch starting at ``start``, zeros where it lies outside the movie."""
        p = self.patch_size
        low, high = np.maximum(start, 0), np.minimum(np.asarray(start) + p, movie.shape)
        region = tuple(slice(a, b) for a, b in zip(low, high))
        if np.all(high - low == p):
            return movie.frames[region], movie.labels[region]
        inside = tuple(slice(a - s, b - s) for a, b, s in zip(low, high, start))
        frames, labels = np.zeros((p, p, p), movie.frames.dtype), np.zeros((p, p, p), np.int8)
        frames[inside], labels[inside] = movie.frames[region], movie.labels[region]
        return frames, labels

    def sample(self, batch_size: int) -> Batch:
        """Draw a batch of ``batch_size`` patches."""
        objects = self.draw_objects(batch_size)
        starts = self.patch_starts(objects)
        movie_index = self.movie_index[objects]
        if self.background_fraction > 0:
            anywhere = np.flatnonzero(self.rng.random(batch_size) < self.background_fraction)
            movie_index[anywhere], starts[anywhere] = self.random_starts(len(anywhere))
        p = self.patch_size
        frames = np.empty((batch_size, 1, p, p, p), np.float32)
        labels = np.empty((batch_size, p, p, p), np.int8)
        if self.augment:
            swap, flip_y, flip_x = self.rng.random((3, batch_size)) < 0.5
        for i, (index, start) in enumerate(zip(movie_index, starts)):
            patch, target = self._cut(self.movies[index], start)
            if self.augment:
                view = (slice(None), slice(None, None, -1 if flip_y[i] else 1),
                        slice(None, None, -1 if flip_x[i] else 1))
                patch, target = patch[view], target[view]
                if swap[i]:
                    patch, target = patch.transpose(0, 2, 1), target.transpose(0, 2, 1)
            frames[i, 0] = patch
            labels[i] = target
        return Batch(frames, labels)
