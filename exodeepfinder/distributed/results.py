"""What a batch did to each movie folder (:class:`FolderResult`), and its summary table."""

from __future__ import annotations

from dataclasses import dataclass

#: The status of a folder in the summary.
STATUSES = ("done", "skipped", "failed")


@dataclass
class FolderResult:
    """What happened to one movie folder.

    Attributes
    ----------
    movie : str
        The folder's name.
    status : str
        ``"done"``, ``"skipped"`` (its outputs were already there) or ``"failed"``.
    events : int or None
        Events in its event list (commands that write one), else None.
    seconds : float or None
        Time the command ran (None when skipped).
    error : str
        One line saying what went wrong (failed folders).
    details : str
        The traceback of an unexpected error (not an InputError), for bug reports.
    log : str
        What the command printed (captured when it ran on a Dask worker).
    threads : int or None
        PyTorch threads of the process that ran it.
    """

    movie: str
    status: str
    events: int | None = None
    seconds: float | None = None
    error: str = ""
    details: str = ""
    log: str = ""
    threads: int | None = None


def summary_table(results):
    """The summary of a batch: one row per movie with its status, events, seconds and error."""
    import pandas as pd

    return pd.DataFrame({
        "movie": [r.movie for r in results],
        "status": [r.status for r in results],
        "events": pd.array([r.events for r in results], dtype="Int64"),
        "seconds": [round(r.seconds, 1) if r.seconds is not None else None for r in results],
        "error": [r.error for r in results],
    })


def format_summary(results) -> str:
    """The summary table as text (movie, status, events, seconds, error), with a last line of counts."""
    rows = [("movie", "status", "events", "seconds", "error")]
    for r in results:
        rows.append((r.movie, r.status, "-" if r.events is None else str(r.events),
                     "-" if r.seconds is None else f"{r.seconds:.1f}", r.error))
    if not any(r.error for r in results):
        rows = [row[:-1] for row in rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = (False, False, True, True, False)
    lines = ["  ".join(cell.rjust(w) if right[i] else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    counts = {status: sum(r.status == status for r in results) for status in STATUSES}
    footer = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no movies"
    return "\n".join(lines) + f"\n{len(results)} movie(s): {footer}"
