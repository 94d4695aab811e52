"""Read a training dataset folder (the layout of ``edf_structure_training_dataset``).

::

    dataset/
    ├── train/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each training movie)
    └── valid/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each validation movie)

Everything that can be wrong with the files is checked by :func:`scan_dataset` from the file
headers and the object lists, before any movie is read: training never starts on a dataset
that would fail later.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

TRAIN, VALID = "train", "valid"
TARGET_SUFFIX, OBJECTS_SUFFIX = "_target.h5", "_objl.xml"
CLASSES = (1, 2)


@dataclass
class MovieFiles:
    """The three files of a movie of the dataset, checked, and the movie's shape."""

    name: str
    movie: Path
    target: Path
    objects: Path
    shape: tuple
    n_objects: dict  # class label -> number of objects


def _h5_shape(path: Path) -> tuple:
    from ..io.h5 import open_h5

    dataset = open_h5(path)
    try:
        return tuple(dataset.shape), dataset.dtype
    finally:
        dataset.file.close()


def scan_folder(folder) -> list[MovieFiles]:
    """Find and check the movies of a ``train/`` or ``valid/`` folder.

    Raises
    ------
    InputError
        If the folder is missing or holds no movie, a movie lacks its target or object list, a
        target lacks its movie, shapes differ, or an object list is empty or has a class other
        than 1 (bright spot) and 2 (event).
    """
    from ..io.events import read_events

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: folder not found")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    movies = [p for p in files if p.suffix == ".h5" and not p.name.endswith(TARGET_SUFFIX)]
    for target in (p for p in files if p.name.endswith(TARGET_SUFFIX)):
        movie = target.with_name(target.name[:-len(TARGET_SUFFIX)] + ".h5")
        if movie not in movies:
            raise InputError(f"{target}: target segmentation without its movie {movie.name}")
    if not movies:
        raise InputError(f"{folder}: no movie (<movie>.h5 with <movie>{TARGET_SUFFIX} and "
                         f"<movie>{OBJECTS_SUFFIX})")
    found = []
    for movie in movies:
        name = movie.stem
        target, objects = folder / f"{name}{TARGET_SUFFIX}", folder / f"{name}{OBJECTS_SUFFIX}"
        for path, what in ((target, "target segmentation"), (objects, "object list")):
            if not path.is_file():
                raise InputError(f"{movie}: its {what} {path.name} is missing")
        shape, _ = _h5_shape(movie)
        if len(shape) != 3:
            raise InputError(f"{movie}: expected a [t, y, x] movie, found shape {shape}")
        target_shape, target_dtype = _h5_shape(target)
        if target_shape != shape:
            raise InputError(f"{target}: shape {target_shape} differs from the movie's {shape}")
        if target_dtype.kind not in "iu":
            raise InputError(f"{target}: labels must be integers (0, 1, 2), found {target_dtype}")
        table = read_events(objects)
        if len(table) == 0:
            raise InputError(f"{objects}: no object to train on")
        unknown = sorted(set(table["class_label"]) - set(CLASSES))
        if unknown:
            raise InputError(f"{objects}: class_label {unknown[0]} is not 1 (bright spot) or 2 (event)")
        n_objects = {c: int((table["class_label"] == c).sum()) for c in CLASSES}
        found.append(MovieFiles(name, movie, target, objects, shape, n_objects))
    return found


def scan_dataset(dataset) -> tuple[list[MovieFiles], list[MovieFiles]]:
    """Check a dataset folder and return the files of its training and validation movies."""
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise InputError(f"{dataset}: dataset folder not found")
    for name in (TRAIN, VALID):
        if not (dataset / name).is_dir():
            raise InputError(f"{dataset}: no {name}/ folder (make the dataset with "
                             "edf_structure_training_dataset and a --split between 1 and 99)")
    train, valid = scan_folder(dataset / TRAIN), scan_folder(dataset / VALID)
    if not sum(m.n_objects[2] for m in train):
        raise InputError(f"{dataset / TRAIN}: no event (class 2) in the object lists: nothing to learn")
    return train, valid


def check_patch_sizes(movies: list[MovieFiles], patch_sizes, option: str = "patch_sizes") -> None:
    """Raise InputError if a patch size does not fit inside a movie (frames, height and width)."""
    for patch_size in sorted(set(int(p) for p in patch_sizes), reverse=True):
        for movie in movies:
            if min(movie.shape) < patch_size:
                t, y, x = movie.shape
                raise InputError(f"{option}: patch size {patch_size} does not fit in {movie.movie} "
                                 f"({t} frames of {y} x {x} pixels)")


def memory_available() -> int | None:
    """Bytes of memory available now (None if the platform does not say)."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def load_movies(movies: list[MovieFiles], *, cache_folder=None, progress=None) -> list:
    """Read, normalise and hold the movies (see :func:`~exodeepfinder.training.data.prepare_movie`).

    ``cache_folder``: keep them in memory maps there instead of in memory.
    ``progress(done_frames, total_frames)`` over all movies.
    """
    from ..io.events import read_events
    from ..io.h5 import open_h5
    from ..progress import report
    from .data import prepare_movie

    total = sum(m.shape[0] for m in movies)
    done = 0
    loaded = []
    try:
        for files in movies:
            movie, target = open_h5(files.movie), open_h5(files.target)
            try:
                offset = done
                loaded.append(prepare_movie(
                    files.name, movie, target, read_events(files.objects), cache_folder=cache_folder,
                    progress=None if progress is None else (lambda d, _t: report(progress, offset + d, total))))
            except ValueError as err:
                raise InputError(f"{files.target}: {err}") from None
            finally:
                movie.file.close()
                target.file.close()
            done += files.shape[0]
    except BaseException:
        for movie in loaded:
            movie.close()
        raise
    return loaded
