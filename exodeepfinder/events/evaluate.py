"""Compare detected events with a reference (expert) list: one-to-one matching, precision, recall, F1."""

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


def summarize(tp: int, fp: int, fn: int) -> dict:
    """Precision, recall and F1 from counts (NaN where a ratio is 0/0)."""
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"tp": int(tp), "fp": int(fp), "fn": int(fn), "precision": precision, "recall": recall, "f1": f1}


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
