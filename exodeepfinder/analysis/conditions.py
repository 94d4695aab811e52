"""Cells compared between conditions: summaries, tests and effect sizes, with cells as the units.

Each cell is one unit (several movies of one cell are averaged into it). Between two
conditions: the Mann-Whitney U test (``scipy.stats.mannwhitneyu``, two-sided), the rank-biserial
correlation as effect size, the ratio of the medians with a 95 % bootstrap interval; the
bootstrap is hierarchical (cells resampled, then the movies of each resampled cell) when a cell
has several movies. With more than two conditions, also the Kruskal-Wallis test over all of them.
A condition with fewer than two cells has no test: its row says so in ``note``.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

#: Per-cell metrics compared between conditions by default.
DEFAULT_METRICS = ("events_per_um2_per_min", "docked_fraction", "spreading_fraction", "clustering_statistic",
                   "peak_dff_median", "decay_tau_s_median")
#: Columns of :func:`compare_conditions`.
TEST_COLUMNS = ["metric", "condition_a", "condition_b", "n_cells_a", "n_cells_b", "median_a", "median_b",
                "ratio_b_over_a", "ratio_ci_low", "ratio_ci_high", "test", "statistic", "p_value",
                "effect_size", "note"]


def _per_cell(cells: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One value per (condition, cell): the mean over the cell's movies."""
    table = cells[["condition", "cell", metric]].copy()
    table[metric] = pd.to_numeric(table[metric], errors="coerce")
    return table.dropna().groupby(["condition", "cell"], sort=False, as_index=False)[metric].mean()


def _bootstrap_medians(cells: pd.DataFrame, metric: str, condition, rng, n_boot: int) -> np.ndarray:
    """Medians of the per-cell means over hierarchical resamples (cells, then their movies)."""
    movies = cells.loc[cells["condition"] == condition, ["cell", metric]].copy()
    movies[metric] = pd.to_numeric(movies[metric], errors="coerce")
    groups = [g[metric].dropna().to_numpy(float) for _, g in movies.groupby("cell", sort=False)]
    groups = [g for g in groups if len(g)]
    if not groups:
        return np.full(n_boot, np.nan)
    medians = np.empty(n_boot)
    for b in range(n_boot):
        picked = rng.integers(0, len(groups), len(groups))
        means = [groups[i][rng.integers(0, len(groups[i]), len(groups[i]))].mean() if len(groups[i]) > 1
                 else groups[i][0] for i in picked]
        medians[b] = np.median(means)
    return medians


def summarise_conditions(cells: pd.DataFrame, metrics=DEFAULT_METRICS, *, n_boot: int = 2000,
                         seed=0) -> pd.DataFrame:
    """Per condition and metric: cells, movies, median over cells and its 95 % (hierarchical) bootstrap interval.

    Returns
    -------
    DataFrame
        ``condition, metric, n_cells, n_movies, median, ci_low, ci_high``.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for condition in pd.unique(cells["condition"]):
        for metric in metrics:
            if metric not in cells.columns:
                continue
            values = _per_cell(cells[cells["condition"] == condition], metric)[metric].to_numpy(float)
            boot = _bootstrap_medians(cells, metric, condition, rng, n_boot) if len(values) > 1 else np.full(1, np.nan)
            low, high = (np.nanquantile(boot, [0.025, 0.975]) if np.isfinite(boot).any() else (np.nan, np.nan))
            rows.append(dict(condition=condition, metric=metric, n_cells=len(values),
                             n_movies=int((cells["condition"] == condition).sum()),
                             median=float(np.median(values)) if len(values) else np.nan, ci_low=low, ci_high=high))
    return pd.DataFrame(rows, columns=["condition", "metric", "n_cells", "n_movies", "median", "ci_low", "ci_high"])


def compare_conditions(cells: pd.DataFrame, metrics=DEFAULT_METRICS, *, n_boot: int = 2000, seed=0) -> pd.DataFrame:
    """Test every pair of conditions on every metric, cells as units.

    Parameters
    ----------
    cells : DataFrame
        One row per movie (``cells.csv``): ``condition``, ``cell`` and the metrics.
    metrics : sequence of str
        Columns to compare (missing ones are skipped).
    n_boot : int
        Bootstrap resamples of the ratio of medians.
    seed : int

    Returns
    -------
    DataFrame
        :data:`TEST_COLUMNS`, one row per metric and pair of conditions (``condition_b`` compared
        with ``condition_a``, in the order the conditions appear), plus one Kruskal-Wallis row per
        metric (``condition_b`` = ``all``) with three conditions or more. ``note`` says why a
        test was skipped (a condition with fewer than two cells).
    """
    from scipy import stats

    rng = np.random.default_rng(seed)
    conditions = list(pd.unique(cells["condition"]))
    rows = []
    for metric in metrics:
        if metric not in cells.columns:
            continue
        per_cell = _per_cell(cells, metric)
        values = {c: per_cell.loc[per_cell["condition"] == c, metric].to_numpy(float) for c in conditions}
        for a, b in itertools.combinations(conditions, 2):
            va, vb = values[a], values[b]
            row = dict.fromkeys(TEST_COLUMNS, np.nan)
            row.update(metric=metric, condition_a=a, condition_b=b, n_cells_a=len(va), n_cells_b=len(vb),
                       median_a=float(np.median(va)) if len(va) else np.nan,
                       median_b=float(np.median(vb)) if len(vb) else np.nan, test="Mann-Whitney U", note="")
            if np.isfinite(row["median_a"]) and row["median_a"] > 0:
                row["ratio_b_over_a"] = row["median_b"] / row["median_a"]
            few = [c for c, v in ((a, va), (b, vb)) if len(v) < 2]
            if few:
                row["note"] = "test skipped: " + ", ".join(f"{c} has {len(values[c])} cell(s)" for c in few) + \
                              " (at least 2 per condition)"
                rows.append(row)
                continue
            u = stats.mannwhitneyu(vb, va, alternative="two-sided")
            row["statistic"], row["p_value"] = float(u.statistic), float(u.pvalue)
            row["effect_size"] = 2.0 * u.statistic / (len(va) * len(vb)) - 1.0  # rank-biserial, > 0: b larger
            boot_a = _bootstrap_medians(cells, metric, a, rng, n_boot)
            boot_b = _bootstrap_medians(cells, metric, b, rng, n_boot)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = boot_b / boot_a
            ratios = ratios[np.isfinite(ratios)]
            if (boot_a <= 0).mean() > 0.025:  # the reference's median may be 0 or negative: no ratio interval
                ratios = ratios[:0]
            if len(ratios):
                row["ratio_ci_low"], row["ratio_ci_high"] = np.quantile(ratios, [0.025, 0.975])
            rows.append(row)
        if len(conditions) > 2:
            groups = [v for v in values.values() if len(v) >= 2]
            row = dict.fromkeys(TEST_COLUMNS, np.nan)
            row.update(metric=metric, condition_a=conditions[0], condition_b="all", test="Kruskal-Wallis", note="")
            if len(groups) >= 2:
                kw = stats.kruskal(*groups)
                row["statistic"], row["p_value"] = float(kw.statistic), float(kw.pvalue)
                if len(groups) < len(conditions):
                    row["note"] = "conditions with fewer than 2 cells left out"
            else:
                row["note"] = "test skipped: fewer than 2 conditions with 2 cells or more"
            rows.append(row)
    return pd.DataFrame(rows, columns=TEST_COLUMNS)
