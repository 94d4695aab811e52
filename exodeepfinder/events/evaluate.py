"""Compare detected events with a reference (expert) list: one-to-one matching, precision, recall, F1,
and their uncertainty over a set of movies (a bootstrap over movies)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_COORDINATES = ["t", "y", "x"]
_UNMATCHABLE = 1e9


@dataclass
class Matching:
    """Result of :func:`match_events`.

    Attributes
    ----------
    pairs : DataFrame
        One row per matched pair: ``detected`` and ``reference`` (row labels in the input
        tables), ``distance`` (voxels).
    false_positives : ndarray
        Row labels of the detected events that match no reference event.
    false_negatives : ndarray
        Row labels of the reference events that no detection matches.
    n_detected, n_reference : int
        Sizes of the two lists.
    """

    pairs: pd.DataFrame
    false_positives: np.ndarray
    false_negatives: np.ndarray
    n_detected: int
    n_reference: int

    @property
    def summary(self) -> dict:
        """``tp, fp, fn, precision, recall, f1`` (precision/recall/F1 are NaN when undefined)."""
        return summarize(len(self.pairs), len(self.false_positives), len(self.false_negatives))

    def table(self, detected: pd.DataFrame, reference: pd.DataFrame) -> pd.DataFrame:
        """One row per true positive, false positive and false negative, for a CSV report.

        Columns: ``status`` (tp, fp, fn), ``t, y, x`` and any other columns of the detected event
        (prefixed ``detected_``), the same for the reference event (``reference_``), ``distance``.
        """
        def side(table, index, prefix):
            part = table.loc[index].reset_index(drop=True)
            return part.add_prefix(prefix)

        tp = pd.concat([side(detected, self.pairs["detected"], "detected_"),
                        side(reference, self.pairs["reference"], "reference_")], axis=1)
        tp.insert(0, "status", "tp")
        tp["distance"] = self.pairs["distance"].to_numpy()
        fp = side(detected, self.false_positives, "detected_")
        fp.insert(0, "status", "fp")
        fn = side(reference, self.false_negatives, "reference_")
        fn.insert(0, "status", "fn")
        parts = [p for p in (tp, fp, fn) if len(p)]
        if not parts:
            return tp
        return pd.concat(parts, ignore_index=True)


def _ratios(tp, fp, fn):
    """Precision, recall and F1 of counts (numbers or arrays alike), NaN where a ratio is 0/0."""
    tp, fp, fn = (np.asarray(count, dtype=float) for count in (tp, fp, fn))
    with np.errstate(divide="ignore", invalid="ignore"):
        return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)


def summarize(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall and F1 from counts (NaN where a ratio is 0/0)."""
    precision, recall, f1 = map(float, _ratios(tp, fp, fn))
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn), "precision": precision, "recall": recall, "f1": f1}


def bootstrap_pooled(counts, *, n_resamples: int = 2000, strata=None, seed: int = 0) -> np.ndarray:
    """Pooled precision, recall and F1 of movies drawn with replacement: a bootstrap over movies.

    Events of one movie are not independent (one noisy movie yields many misses), so the
    uncertainty of a pooled figure comes from resampling whole movies.

    Parameters
    ----------
    counts : array-like, shape (movies, 3)
        ``tp, fp, fn`` of each movie.
    n_resamples : int
        Number of draws.
    strata : array-like, shape (movies,), optional
        Group of each movie (e.g. a cell of a grid): each draw takes as many movies of each
        group as it has, from that group.
    seed : int
        Draws depend only on the seed, the number of movies and ``strata``: two models'
        counts on the same movies, resampled with the same seed, give paired draws (the
        difference of their F1 draw by draw measures the difference between the models).

    Returns
    -------
    ndarray, shape (n_resamples, 3)
        Precision, recall and F1 of each draw (NaN where a ratio is 0/0).
    """
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    if not len(counts):
        raise ValueError("counts: no movies to resample")
    if n_resamples < 1:
        raise ValueError(f"n_resamples: must be >= 1, got {n_resamples}")
    strata = np.zeros(len(counts), int) if strata is None else pd.factorize(np.asarray(strata))[0]
    if len(strata) != len(counts):
        raise ValueError(f"strata: one group per movie expected, got {len(strata)} for {len(counts)} movies")
    rng = np.random.default_rng(seed)
    totals = np.zeros((n_resamples, 3), np.int64)
    for group in range(strata.max() + 1):
        members = np.flatnonzero(strata == group)
        drawn = members[rng.integers(0, len(members), (n_resamples, len(members)))]
        totals += counts[drawn].sum(axis=1)
    return np.stack(_ratios(*totals.T), axis=1)


def pooled_summary(counts, *, level: float = 0.95, n_resamples: int = 2000, strata=None, seed: int = 0) -> dict:
    """Counts summed over movies, their precision, recall and F1, and the F1's bootstrap interval.

    Parameters
    ----------
    counts : array-like, shape (movies, 3)
        ``tp, fp, fn`` of each movie.
    level : float
        Coverage of the interval (percentile bootstrap over movies, see :func:`bootstrap_pooled`).
    n_resamples, strata, seed
        See :func:`bootstrap_pooled`.

    Returns
    -------
    dict
        :func:`summarize`'s keys, and ``f1_low`` and ``f1_high``: the interval (NaN for fewer
        than two movies, whose resampling says nothing, or when no movie has an event).
    """
    if not 0 < level < 1:
        raise ValueError(f"level: must be between 0 and 1, got {level}")
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 3)
    summary = summarize(*counts.sum(axis=0))
    low = high = np.nan
    if len(counts) > 1:
        f1 = bootstrap_pooled(counts, n_resamples=n_resamples, strata=strata, seed=seed)[:, 2]
        f1 = f1[np.isfinite(f1)]
        if len(f1):
            low, high = np.quantile(f1, [(1 - level) / 2, (1 + level) / 2])
    return {**summary, "f1_low": float(low), "f1_high": float(high)}


def match_events(detected: pd.DataFrame, reference: pd.DataFrame, tolerance: float = 5) -> Matching:
    """Match detected events to reference events one to one (Hungarian assignment).

    Two events can be paired when their Euclidean distance in ``(t, y, x)`` voxels is at most
    ``tolerance``; among the pairings the one with the most pairs, then the smallest total
    distance, is chosen (solved separately on each group of mutually reachable events).

    Parameters
    ----------
    detected, reference : DataFrame
        Events tables (columns ``t, y, x``).
    tolerance : float
        Largest distance of a match, in voxels (frames and pixels weigh the same).

    Returns
    -------
    Matching
        ``.pairs`` (DataFrame ``detected, reference, distance``), ``.false_positives``,
        ``.false_negatives`` (row labels), ``.summary`` (dict ``tp, fp, fn, precision, recall,
        f1``) and ``.table(detected, reference)`` for a per-event report.

    Examples
    --------
    >>> from exodeepfinder.io.events import make_events
    >>> m = match_events(make_events([10, 50], [5, 5], [5, 5]), make_events([11], [5], [6]))
    >>> m.summary["tp"], m.summary["fp"], m.summary["fn"]
    (1, 1, 0)
    """
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    if tolerance < 0:
        raise ValueError(f"tolerance: must be >= 0, got {tolerance}")
    a = detected[_COORDINATES].to_numpy(float)
    b = reference[_COORDINATES].to_numpy(float)
    pairs = []
    if len(a) and len(b):
        close = cKDTree(a).sparse_distance_matrix(cKDTree(b), tolerance, output_type="coo_matrix")
        rows, cols = close.row, close.col
        distances = np.sqrt(((a[rows] - b[cols]) ** 2).sum(1))  # explicit zeros of the sparse matrix included
        n = len(a)
        graph = coo_matrix((np.ones(len(rows)), (rows, cols + n)), shape=(n + len(b), n + len(b)))
        _, component = connected_components(graph, directed=False)
        edge_component = component[rows]
        order = np.argsort(edge_component, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(edge_component[order]) != 0])
        for begin, end in zip(starts, np.r_[starts[1:], len(order)]):
            edges = order[begin:end]
            r_ids, r_local = np.unique(rows[edges], return_inverse=True)
            c_ids, c_local = np.unique(cols[edges], return_inverse=True)
            cost = np.full((len(r_ids), len(c_ids)), _UNMATCHABLE)
            cost[r_local, c_local] = distances[edges]
            chosen_r, chosen_c = linear_sum_assignment(cost)
            ok = cost[chosen_r, chosen_c] < _UNMATCHABLE
            for i, j in zip(chosen_r[ok], chosen_c[ok]):
                pairs.append((r_ids[i], c_ids[j], cost[i, j]))
    pairs.sort()
    matched_a = np.array([p[0] for p in pairs], int)
    matched_b = np.array([p[1] for p in pairs], int)
    pair_table = pd.DataFrame({
        "detected": detected.index[matched_a] if len(pairs) else pd.Index([], dtype=detected.index.dtype),
        "reference": reference.index[matched_b] if len(pairs) else pd.Index([], dtype=reference.index.dtype),
        "distance": np.array([p[2] for p in pairs], float),
    })
    false_positives = detected.index[np.setdiff1d(np.arange(len(a)), matched_a)].to_numpy()
    false_negatives = reference.index[np.setdiff1d(np.arange(len(b)), matched_b)].to_numpy()
    return Matching(pair_table, false_positives, false_negatives, len(a), len(b))


def precision_recall_curve(detected: pd.DataFrame, reference: pd.DataFrame, tolerance: float = 5, *,
                           score="score", n_thresholds: int = 100) -> pd.DataFrame:
    """Precision and recall of the detections kept at each score threshold.

    Events are re-matched for every threshold (detections with ``score >= threshold``).

    Parameters
    ----------
    detected, reference : DataFrame
        Events tables; ``detected`` has the column named by ``score`` (e.g. ``score`` or
        ``cluster_size``).
    tolerance : float
        Matching distance, as in :func:`match_events`.
    n_thresholds : int
        At most this many thresholds, taken at quantiles of the scores.

    Returns
    -------
    DataFrame
        Columns ``threshold, tp, fp, fn, precision, recall, f1``, by increasing threshold.
    """
    if score not in detected.columns:
        raise ValueError(f"detected events have no '{score}' column")
    values = detected[score].to_numpy(float)
    values = values[np.isfinite(values)]
    thresholds = np.unique(values)
    if len(thresholds) > n_thresholds:
        thresholds = np.unique(np.quantile(values, np.linspace(0, 1, n_thresholds)))
    rows = []
    for threshold in thresholds:
        kept = detected[detected[score].to_numpy(float) >= threshold]
        rows.append({"threshold": threshold, **match_events(kept, reference, tolerance).summary})
    return pd.DataFrame(rows, columns=["threshold", "tp", "fp", "fn", "precision", "recall", "f1"])


def precision_recall_figure(curve: pd.DataFrame, *, title: str = "", score: str = "score"):
    """A matplotlib Figure of a :func:`precision_recall_curve` (the best-F1 threshold marked)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.5, 4.5), layout="constrained")
    axes = figure.add_subplot()
    axes.plot(curve["recall"], curve["precision"], ".-", color="tab:blue")
    if len(curve) and curve["f1"].notna().any():
        best = curve.loc[curve["f1"].idxmax()]
        axes.plot(best["recall"], best["precision"], "o", color="tab:red",
                  label=f"best F1 {best['f1']:.3f} at {score} >= {best['threshold']:.3g}")
        axes.legend(loc="lower left")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02), title=title)
    axes.grid(alpha=0.3)
    return figure
