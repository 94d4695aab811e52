"""Review states of events: how many are reviewed, which to look at next, which a reference annotation keeps.

A reviewed events table has a ``review`` column (:data:`~exodeepfinder.io.events.REVIEW_COLUMN`) whose
values are :data:`~exodeepfinder.io.events.REVIEW_STATES`: ``unreviewed`` (not looked at yet),
``accepted`` (a detection the user confirmed), ``rejected`` (a detection the user rejected, kept as a
negative example) and ``added`` (an event the user added by hand). A table without the column is all
``unreviewed``. The napari *Review and annotate* widget is a thin layer over these functions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..io.events import REVIEW_COLUMN, REVIEW_STATES

#: States that count as reviewed in the progress line.
REVIEWED_STATES = ("accepted", "rejected", "added")
#: The decision point of a calibrated probability (the ``confidence`` column).
CONFIDENCE_DECISION = 0.5


def review_states(events: pd.DataFrame) -> np.ndarray:
    """The review state of each event (an array of str); ``unreviewed`` where the table has none."""
    if REVIEW_COLUMN not in events.columns:
        return np.full(len(events), "unreviewed", dtype=object)
    states = events[REVIEW_COLUMN].astype(object).where(events[REVIEW_COLUMN].notna(), "unreviewed")
    states = states.map(lambda value: str(value).strip().lower() or "unreviewed").to_numpy(dtype=object)
    unknown = sorted(set(states) - set(REVIEW_STATES))
    if unknown:
        raise ValueError(f"review: unknown state(s) {', '.join(map(repr, unknown))} "
                         f"(expected one of {', '.join(REVIEW_STATES)})")
    return states


def review_counts(events: pd.DataFrame) -> dict:
    """How many events are in each review state, plus ``reviewed`` (accepted + rejected + added) and ``total``."""
    states = review_states(events)
    counts = {state: int(np.count_nonzero(states == state)) for state in REVIEW_STATES}
    counts["reviewed"] = sum(counts[state] for state in REVIEWED_STATES)
    counts["total"] = len(states)
    return counts


def progress_text(events: pd.DataFrame) -> str:
    """The progress line, e.g. ``23 of 41 reviewed (12 accepted, 8 rejected, 3 added)``."""
    counts = review_counts(events)
    text = f"{counts['reviewed']} of {counts['total']} reviewed"
    details = [f"{counts[state]} {state}" for state in REVIEWED_STATES if counts[state]]
    return text + (f" ({', '.join(details)})" if details else "")


def uncertainty_column(events: pd.DataFrame) -> str | None:
    """The column that ranks the events' uncertainty: ``confidence`` if the table has values there, else ``score``."""
    for column in ("confidence", "score"):
        if column in events.columns and pd.to_numeric(events[column], errors="coerce").notna().any():
            return column
    return None


def uncertainty_distance(events: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
    """How far each event is from the decision: ``|confidence - 0.5|``, else ``|score - threshold|``.

    ``confidence`` is a calibrated probability (its decision is 0.5 whatever the threshold);
    ``score`` is the detector's score, compared with ``threshold``. Events without a value (and
    every event of a table with neither column) get ``inf``: they come last.
    """
    column = uncertainty_column(events)
    if column is None:
        return np.full(len(events), np.inf)
    values = pd.to_numeric(events[column], errors="coerce").to_numpy(float)
    decision = CONFIDENCE_DECISION if column == "confidence" else float(threshold)
    distance = np.abs(values - decision)
    return np.where(np.isfinite(distance), distance, np.inf)


def most_uncertain_order(events: pd.DataFrame, threshold: float = 0.5) -> np.ndarray:
    """Indices (positions) of the unreviewed events, the one closest to the decision first.

    Ties (and events without a score) are broken by time, then row, then column, so that the
    order is stable. See :func:`uncertainty_distance` for the distance.
    """
    unreviewed = np.flatnonzero(review_states(events) == "unreviewed")
    if len(unreviewed) == 0:
        return unreviewed
    distance = uncertainty_distance(events, threshold)[unreviewed]
    position = events[["t", "y", "x"]].to_numpy(float)[unreviewed]
    order = np.lexsort((position[:, 2], position[:, 1], position[:, 0], distance))
    return unreviewed[order]


def reference_events(events: pd.DataFrame, *, include_unreviewed: bool = False) -> pd.DataFrame:
    """The events of a reference annotation: the accepted and added ones (and the unreviewed ones if asked).

    Rejected events are never kept. A table without a ``review`` column is returned whole when
    ``include_unreviewed`` is true, and empty otherwise (none of its events was reviewed).
    """
    states = review_states(events)
    keep = np.isin(states, ("accepted", "added") + (("unreviewed",) if include_unreviewed else ()))
    return events[keep].reset_index(drop=True)


__all__ = ["REVIEWED_STATES", "review_states", "review_counts", "progress_text", "uncertainty_column",
           "uncertainty_distance", "most_uncertain_order", "reference_events"]
