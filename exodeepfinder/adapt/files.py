"""Reviewed movie folders in, a model folder out: what ``exodeepfinder adapt`` and the napari widget run.

Each subfolder of the batch folder holds a movie (``movie.h5``, a ``tiff/`` folder of frames, or
one movie file of a format ``detect`` reads) and its corrections: by default
``corrected_events.csv`` (the Review widget's file: the detected events with a ``review``
column), else ``corrected_events.xml`` or ``expert_annotation.xml`` (a complete annotation:
every event of the movie; any detection not in it counts as rejected).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

DEFAULT_CORRECTIONS = "corrected_events.csv"
#: Looked for, in order, when the default corrections file is absent.
FALLBACK_CORRECTIONS = ("corrected_events.xml", "expert_annotation.xml")
#: Movie files looked for first, then any movie file of a known format.
MOVIE_NAMES = ("movie.h5", "tiff")
_MOVIE_SUFFIXES = (".h5", ".tif", ".tiff", ".ome.tif", ".ome.tiff", ".nd2", ".czi", ".lif", ".stk")
_NOT_MOVIES = ("_segmentation.h5",)


def find_movie(folder: Path) -> Path:
    """The movie of a reviewed folder (InputError naming the folder if there is none or several)."""
    for name in MOVIE_NAMES:
        if (folder / name).exists():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(_MOVIE_SUFFIXES)
                   and not p.name.endswith(_NOT_MOVIES) and not p.name.startswith("."))
    if len(found) == 1:
        return found[0]
    if not found:
        raise InputError(f"{folder}: no movie (movie.h5, tiff/ or a movie file)")
    raise InputError(f"{folder}: several movie files ({', '.join(p.name for p in found[:4])}); keep one per folder")


def find_corrections(folder: Path, name: str | None) -> Path:
    """The corrections file of a reviewed folder (InputError naming the folder if absent)."""
    if name is not None and name != DEFAULT_CORRECTIONS:
        path = folder / name
        if not path.is_file():
            raise InputError(f"{path}: corrections file not found")
        return path
    for candidate in (DEFAULT_CORRECTIONS, *FALLBACK_CORRECTIONS):
        if (folder / candidate).is_file():
            return folder / candidate
    raise InputError(f"{folder}: no corrections ({DEFAULT_CORRECTIONS}, or {' or '.join(FALLBACK_CORRECTIONS)}; "
                     "review the detections in napari first, or name the file with --corrections)")


def read_reviewed_folders(batch, corrections: str | None = None, *, log=None) -> list:
    """Read every reviewed movie of a batch folder as :class:`~exodeepfinder.adapt.core.ReviewedMovie` s.

    Raises
    ------
    InputError
        One line naming the folder or file: no subfolders, no movie, no corrections, corrections
        that do not fit the movie's size, an empty review.
    """
    from ..commands import batch_folders
    from ..io.events import read_events
    from ..io.movie import read_movie
    from .corrections import ReviewedMovie, check_reviewed

    movies = []
    for folder in batch_folders(batch):
        movie_path, corrections_path = find_movie(folder), find_corrections(folder, corrections)
        events = read_events(corrections_path)
        movie = read_movie(movie_path)
        reviewed = ReviewedMovie(folder.name, movie, events)
        check_reviewed(reviewed, corrections_path)
        if log:
            log(f"{folder.name}: {movie_path.name} {tuple(movie.shape)}, {len(events)} corrections "
                f"({corrections_path.name})")
        movies.append(reviewed)
    return movies


def adapt_folders(batch, output, *, corrections: str | None = None, base_model=None, max_minutes: float = 5.0,
                  overwrite: bool = False, progress=None, log=None):
    """Adapt from the reviewed folders of ``batch`` and write the model folder ``output``.

    Returns
    -------
    AdaptedModel
        What was written (its ``card`` holds the held-out figures).
    """
    from ..progress import within
    from .core import adapt

    output = Path(output)
    if output.exists() and not overwrite:
        raise InputError(f"{output}: already exists (choose another folder, or allow overwriting)")
    movies = read_reviewed_folders(batch, corrections, log=log)
    adapted = adapt(movies, base_model, max_minutes=max_minutes, progress=within(progress, 0, 99), log=log)
    adapted.save(output, overwrite=overwrite)
    if progress is not None:
        progress(100, 100)
    return adapted
