"""Lay out prepared movies as the training dataset that ``edf_train --dataset`` reads.

Input: one folder per movie, each holding the movie, its merged segmentation and its merged
annotation. Output::

    dataset/
    ├── train/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each training movie)
    └── valid/  <movie>.h5  <movie>_target.h5  <movie>_objl.xml   (for each validation movie)

``<movie>`` is the name of the movie folder. The files are symbolic links to the originals (or
copies). Nothing is ever deleted or moved; existing files are replaced only when asked to.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_outputs
from .layout import MOVIE_SUFFIX, OBJECTS_SUFFIX, TARGET_SUFFIX, TRAIN, VALID



@dataclass
class DatasetLayout:
    """What :func:`structure_training_dataset` did.

    Attributes
    ----------
    train, valid : list of str
        Movie names in each set (``valid`` holds nothing when the split is 0: files are then
        written directly in the output folder, as the reference does).
    skipped : dict
        Movie folder name -> reason it was left out.
    linked : bool
        True if the files are symbolic links, False if copies.
    """

    train: list = field(default_factory=list)
    valid: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    linked: bool = True


def split_movies(names, split: float = 70, seed=None) -> tuple[list, list]:
    """Split movie names at random into a training and a validation set.

    ``split`` is the percentage of movies for training (rounded; with two movies or more,
    each set gets at least one). ``seed`` makes the split reproducible.
    """
    names = sorted(names)
    if not 0 <= split <= 100:
        raise InputError(f"split: must be a percentage between 0 and 100 (got {split})")
    order = list(np.random.default_rng(seed).permutation(len(names)))
    n_train = int(round(split * len(names) / 100.0))
    if len(names) >= 2 and 0 < split < 100:
        n_train = min(max(n_train, 1), len(names) - 1)
    train = sorted(names[i] for i in order[:n_train])
    valid = sorted(names[i] for i in order[n_train:])
    return train, valid


def _place(source: Path, destination: Path, *, copy: bool) -> bool:
    """Make ``destination`` (a temporary path) a symbolic link to ``source``, or a copy; True if a link."""
    if not copy:
        try:
            destination.symlink_to(source.resolve())
            return True
        except OSError:  # no symlinks here (Windows without developer mode, some network drives)
            pass
    shutil.copyfile(source, destination)
    return False


#: The training files of a movie folder, by what they hold (the default names :func:`structure_training_dataset` reads).
TRAINING_FILES = {"movie": "movie.h5", "segmentation": "merged_segmentation.h5", "annotation": "merged_annotation.xml"}


def structure_training_dataset(input_folder, output_folder, *, movie=TRAINING_FILES["movie"],
                               merged_segmentation=TRAINING_FILES["segmentation"],
                               merged_annotation=TRAINING_FILES["annotation"], split: float = 70, seed=None,
                               copy: bool = False, overwrite: bool = False) -> DatasetLayout:
    """Lay out the movie folders of ``input_folder`` as a training dataset in ``output_folder``.

    Parameters
    ----------
    input_folder : path
        Folder of movie folders.
    output_folder : path
        Dataset folder to create. If it exists and is not empty, InputError unless ``overwrite``;
        with ``overwrite``, files of the same names are replaced and every other file is kept.
    movie, merged_segmentation, merged_annotation : str
        File names inside each movie folder. Folders lacking one of them are skipped (and reported).
    split : float
        Percentage of movies in ``train/``, the rest in ``valid/``; 0 puts every movie's files
        directly in ``output_folder`` (no split).
    seed : int or None
        Seed of the random split.
    copy : bool
        Copy the files instead of linking to them (links are used where the platform allows).

    Returns
    -------
    DatasetLayout
    """
    input_folder, output_folder = Path(input_folder), Path(output_folder)
    _check_folders(input_folder, output_folder, overwrite)

    layout = DatasetLayout(linked=not copy)
    sources = {}
    folders = sorted(p for p in input_folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and p.resolve() != output_folder.resolve())
    for folder in folders:
        files = [folder / movie, folder / merged_segmentation, folder / merged_annotation]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            layout.skipped[folder.name] = f"missing {', '.join(missing)}"
            continue
        sources[folder.name] = files
    if not sources:
        detail = "; ".join(f"{name}: {why}" for name, why in layout.skipped.items()) or "no subfolders"
        raise InputError(f"{input_folder}: no movie folder with {movie}, {merged_segmentation} and "
                         f"{merged_annotation} ({detail})")

    if split > 0:
        layout.train, layout.valid = split_movies(sources, split, seed)
        destinations = {**{name: output_folder / TRAIN for name in layout.train},
                        **{name: output_folder / VALID for name in layout.valid}}
    else:
        split_movies(sources, split, seed)  # validates the percentage
        layout.train = sorted(sources)
        destinations = {name: output_folder for name in layout.train}

    _check_no_earlier_layout(destinations, output_folder)

    placed = _placements(sources, destinations, overwrite)
    # the whole dataset appears at once, or nothing of it (an existing file is replaced only with overwrite)
    linked = True
    with atomic_outputs(list(placed), overwrite=overwrite) as temporary:
        for tmp, source in zip(temporary, placed.values()):
            linked &= _place(source, tmp, copy=copy)
    layout.linked = linked
    return layout


def _check_folders(input_folder: Path, output_folder: Path, overwrite: bool) -> None:
    """InputError unless ``input_folder`` is a folder and ``output_folder`` another one, empty or ``overwrite``."""
    if not input_folder.is_dir():
        raise InputError(f"{input_folder}: input folder not found")
    if output_folder.exists() and not output_folder.is_dir():
        raise InputError(f"{output_folder}: exists and is not a folder")
    if output_folder.resolve() == input_folder.resolve():
        raise InputError(f"{output_folder}: the output folder must differ from the input folder")
    if output_folder.is_dir() and any(output_folder.iterdir()) and not overwrite:
        raise InputError(f"{output_folder}: output folder is not empty (use --overwrite to add to it; "
                         "nothing in it is deleted)")


def _check_no_earlier_layout(destinations: dict, output_folder: Path) -> None:
    """InputError if a movie's files lie in another set than its destination (left by an earlier split)."""
    # with --overwrite, a movie's files left in the other set by an earlier split would put the
    # movie in both sets: refuse (deleting them is the user's call)
    for name, folder in destinations.items():
        for other in {output_folder, output_folder / TRAIN, output_folder / VALID} - {folder}:
            stale = [other / f"{name}{suffix}" for suffix in (MOVIE_SUFFIX, TARGET_SUFFIX, OBJECTS_SUFFIX)]
            stale = [path for path in stale if path.exists() or path.is_symlink()]
            if stale:
                raise InputError(f"{stale[0]}: left by an earlier layout, but {name} now goes to {folder}; "
                                 "remove it or use another output folder (or the same --seed)")


def _placements(sources: dict, destinations: dict, overwrite: bool) -> dict:
    """``{destination: source}`` of every file of the dataset; InputError for an existing one without ``overwrite``."""
    placed = {}
    for name, (movie_file, target_file, annotation_file) in sorted(sources.items()):
        for source, suffix in ((movie_file, MOVIE_SUFFIX), (target_file, TARGET_SUFFIX),
                               (annotation_file, OBJECTS_SUFFIX)):
            destination = destinations[name] / f"{name}{suffix}"
            if not overwrite and (destination.exists() or destination.is_symlink()):
                raise InputError(f"{destination}: already exists (use --overwrite to replace it)")
            placed[destination] = source
    return placed
