"""An experiment on disk: conditions, cells, movies and their events, analysed cell by cell.

Layouts (:func:`find_movies`):

- a folder ``EXPERIMENT/<condition>/<cell>/movie.h5`` (or ``tiff/``), each movie with the events
  ``detect`` wrote beside it (``movie_events.csv``); several movies of one cell in subfolders
  ``EXPERIMENT/<condition>/<cell>/<movie>/movie.h5``;
- a CSV sheet with columns ``movie, condition`` and optionally ``cell``, ``events``, ``mask``
  (paths relative to the sheet's folder; ``cell`` defaults to the movie's folder name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputError
from ..progress import report, within

#: Movies looked for in a cell folder (as ``detect --batch`` does).
CELL_MOVIES = ("movie.h5", "tiff")
#: Where a movie's events are, by default (what ``detect`` writes).
DEFAULT_EVENTS = "{movie.parent}/{movie.stem}_events.csv"


def _format(template: str, movie: Path) -> Path:
    from ..commands import format_path

    return format_path(template, movie=movie)


def _movie_in(folder: Path):
    for name in CELL_MOVIES:
        if (folder / name).exists():
            return folder / name
    return None


def find_movies(source, *, events: str = DEFAULT_EVENTS, mask: str | None = None) -> pd.DataFrame:
    """The movies of an experiment folder or sheet, with their condition, cell, events and mask files.

    Parameters
    ----------
    source : str or Path
        An experiment folder (``<condition>/<cell>/movie.h5``), a CSV sheet (``movie,condition``
        [``,cell,events,mask``]), or one movie (one cell, condition ``""``).
    events : str
        Template of each movie's events file (``{movie.parent}``, ``{movie.stem}``...).
    mask : str, optional
        Template of each movie's mask file; None: automatic masks.

    Returns
    -------
    DataFrame
        ``condition, cell, movie, events, mask`` (paths; ``mask`` None for automatic).

    Raises
    ------
    InputError
        Nothing found, a missing events or mask file, a sheet without its columns.
    """
    source = Path(source)
    rows = []
    if source.is_file() and source.suffix.lower() == ".csv":
        from ..io.events import _read_csv

        sheet = _read_csv(source)
        sheet.columns = [str(c).strip().lower() for c in sheet.columns]
        missing = [c for c in ("movie", "condition") if c not in sheet.columns]
        if missing:
            raise InputError(f"{source}: missing column(s) {', '.join(missing)} (expected movie,condition[,cell])")
        for line, row in enumerate(sheet.itertuples(index=False), start=2):
            movie = source.parent / str(row.movie).strip()
            rows.append(dict(condition=str(row.condition).strip(),
                             cell=str(getattr(row, "cell", "") or "").strip() or movie.parent.name, movie=movie,
                             events=(source.parent / str(row.events).strip()) if "events" in sheet.columns
                             and pd.notna(row.events) else None,
                             mask=(source.parent / str(row.mask).strip()) if "mask" in sheet.columns
                             and pd.notna(row.mask) else None))
    elif source.is_dir() and _movie_in(source) is None:
        conditions = sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith("."))
        for condition in conditions:
            for cell in sorted(p for p in condition.iterdir() if p.is_dir() and not p.name.startswith(".")):
                movie = _movie_in(cell)
                movies = [movie] if movie else [m for m in (_movie_in(p) for p in sorted(cell.iterdir())
                                                             if p.is_dir() and not p.name.startswith(".")) if m]
                for movie in movies:
                    rows.append(dict(condition=condition.name, cell=cell.name, movie=movie, events=None, mask=None))
        if not rows:
            raise InputError(f"{source}: no movies found (expected {source}/<condition>/<cell>/movie.h5, "
                             "or a CSV sheet movie,condition)")
    elif source.exists():
        movie = _movie_in(source) if source.is_dir() else source
        rows.append(dict(condition="", cell=movie.parent.name, movie=movie, events=None, mask=None))
    else:
        raise InputError(f"{source}: not found")
    table = pd.DataFrame(rows, columns=["condition", "cell", "movie", "events", "mask"]).astype(object)
    for i, row in table.iterrows():
        if not Path(row.movie).exists():
            raise InputError(f"{row.movie}: movie not found")
        if row.events is None:
            table.at[i, "events"] = _format(events, Path(row.movie))
        if not Path(table.at[i, "events"]).is_file():
            raise InputError(f"{table.at[i, 'events']}: events file not found (run `exodeepfinder detect` on "
                             f"{row.movie} first, or give --events)")
        if row["mask"] is None and mask is not None:
            table.at[i, "mask"] = _format(mask, Path(row.movie))
        if table.at[i, "mask"] is not None and not Path(table.at[i, "mask"]).is_file():
            raise InputError(f"{table.at[i, 'mask']}: mask file not found")
    return table


@dataclass
class ExperimentAnalysis:
    """What :func:`analyse_experiment` finds: ``cells`` (one row per movie), ``events`` (all of
    them, with ``condition`` and ``cell``), ``analyses`` (the :class:`CellAnalysis` of each movie,
    in the order of ``cells``), ``units`` (each movie's pixel size and frame interval) and
    ``figures`` (each movie's figure as a PNG ``data:`` URL, when asked for)."""

    cells: pd.DataFrame
    events: pd.DataFrame
    analyses: list
    units: list
    figures: list | None = None


def _analyse_movie(i, row, pixel_size, frame_interval, min_score, figure, options, progress=None):
    """Analyse one movie of the table (in this process or a worker): analysis, units, figure, warnings."""
    import warnings

    from ..io.events import check_events_in_movie, read_events
    from ..io.masks import read_mask
    from ..io.movie import open_movie
    from ..io.units import resolve_units
    from .cells import analyse_cell
    from .mask import check_mask

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        events = read_events(row["events"])
        if min_score is not None and "score" in events.columns:
            events = events[pd.to_numeric(events["score"], errors="coerce") >= min_score].reset_index(drop=True)
        with open_movie(row["movie"]) as movie:
            sizes = resolve_units(row["movie"], movie.metadata, pixel_size=pixel_size, frame_interval=frame_interval)
            mask = None
            if row["mask"] is not None:
                mask = check_mask(read_mask(row["mask"]), movie.shape[1:], name=str(row["mask"]))
            check_events_in_movie(events, movie.shape, row["events"])
            analysis = analyse_cell(movie, events, mask=mask, pixel_size=sizes[0], frame_interval=sizes[1],
                                    seed=i, progress=progress, **options)
    analysis.stats.update(condition=row["condition"], cell=row["cell"], movie=str(row["movie"]))
    png = None
    if figure:
        from .report import cell_figure, figure_png

        png = figure_png(cell_figure(analysis), dpi=60)
    from ..io.units import UnitsWarning

    return analysis, sizes, png, [(w.category, str(w.message)) for w in caught if issubclass(w.category, UnitsWarning)]


def _workers(jobs, n_movies) -> int:
    import os

    if jobs is None:
        try:
            jobs = len(os.sched_getaffinity(0))
        except AttributeError:
            jobs = os.cpu_count() or 1
    return max(1, min(int(jobs), n_movies))


def analyse_experiment(movies: pd.DataFrame, *, pixel_size=None, frame_interval=None, min_score=None,
                       figures: bool = False, jobs: int | None = 1, progress=None, **options) -> ExperimentAnalysis:
    """Analyse every movie of :func:`find_movies` (see :func:`~exodeepfinder.analysis.cells.analyse_cell`).

    Parameters
    ----------
    movies : DataFrame
        From :func:`find_movies`.
    pixel_size, frame_interval : optional
        Override the movies' own units; when neither says, a warning names the flag.
    min_score : float, optional
        Leave out events with a lower ``score``.
    figures : bool
        Also draw each movie's figure (:func:`~exodeepfinder.analysis.report.cell_figure`).
    jobs : int or None
        Movies analysed at once, in as many processes (None: one per available CPU core).
    progress : callable, optional
        ``progress(done, 100)``; returning False cancels.
    **options
        Passed to :func:`~exodeepfinder.analysis.cells.analyse_cell` (``offset``, ``n_simulations``...).

    Raises
    ------
    InputError
        Unreadable files, a mask of the wrong size, or no event in any movie.
    """
    import warnings

    from ..errors import Cancelled
    from .cells import CELL_COLUMNS

    rows = [row for _, row in movies.iterrows()]
    workers = _workers(jobs, len(rows))
    results = [None] * len(rows)
    arguments = (pixel_size, frame_interval, min_score, figures, options)
    if workers == 1:
        for i, row in enumerate(rows):
            step = within(progress, 100 * i / len(rows), 100 * (i + 1) / len(rows))
            results[i] = _analyse_movie(i, row, *arguments, progress=step)
    else:
        import multiprocessing
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

        context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads (Qt, BLAS)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {pool.submit(_analyse_movie, i, row, *arguments): i for i, row in enumerate(rows)}
            done_count = 0
            try:
                while pending:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        results[pending.pop(future)] = future.result()
                        done_count += 1
                        report(progress, done_count, len(rows))
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
    for _, _, _, caught in results:
        for category, message in caught:
            warnings.warn(category(message), stacklevel=2)
    if any(r is None for r in results):
        raise Cancelled()
    analyses = [r[0] for r in results]
    tables = []
    for analysis, row in zip(analyses, rows):
        table = analysis.events.copy()
        table.insert(0, "movie", str(row["movie"]))
        table.insert(0, "cell", row["cell"])
        table.insert(0, "condition", row["condition"])
        tables.append(table)
    cells = pd.DataFrame([a.stats for a in analyses], columns=CELL_COLUMNS)
    events = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if cells["n_events"].sum() == 0:
        names = ", ".join(str(p) for p in movies["events"].head(3))
        raise InputError(f"{names}{'...' if len(movies) > 3 else ''}: no events (nothing to report)")
    return ExperimentAnalysis(cells=cells, events=events, analyses=analyses, units=[r[1] for r in results],
                              figures=[r[2] for r in results] if figures else None)
