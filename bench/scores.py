"""Do event scores mean something? Precision-recall over ``min_score``, and true against false events.

Reads the per-movie records that ``bench/robustness.py`` writes (``OUT/results.jsonl``: for every
movie and model, the detected events with their ``score`` and the simulated truth) and reports, per
model, pooled over all the movies:

- the precision-recall curve over ``min_score`` (``detect(..., min_score=s)`` keeps the events whose
  ``score`` (:mod:`exodeepfinder.events.score`) is at least ``s``; dropping events after detection
  gives the same events): a table at several thresholds and the threshold of the best F1. Every threshold
  re-matches the kept events to the truth (tolerance 5), movie by movie;
- the scores of true events (detections matched to a simulated event) against those of false events,
  by what each false event lies on (:func:`classify_detections`): a distractor of the simulator
  (``flash``, ``flicker``, ``moving``, ``arriving_leaving``, ``docked`` vesicle), the vesicle of a
  true event before it fuses (``docked_then_fused``), a late part of a true event already found
  (``event_tail``), a hot pixel, or nothing simulated (``background``); medians and the AUC (the
  probability that a true event scores higher than a false one, ties counting half).

    .venv/bin/python bench/scores.py OUT          # OUT: a bench/robustness.py output folder

writes ``OUT/scores.md``, ``OUT/scores_pr.csv`` (the curves) and ``OUT/scores.png``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

#: The simulator's distractors (``spots.kind`` of ``exodeepfinder.simulation``) that are not fusion events.
DISTRACTOR_KINDS = ("flash", "flicker", "moving", "arriving_leaving", "docked")
#: What a false event can lie on, in the order of :func:`classify_detections`' rules.
FALSE_KINDS = ("event_tail", "docked_then_fused") + DISTRACTOR_KINDS + ("hot_pixel", "background")
#: Thresholds of the reported table (the best-F1 threshold is added).
REPORTED_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
#: Columns of the detected events in ``results.jsonl`` (``on``: what the event lies on, :func:`classify_detections`).
#: Records written before ``exodeepfinder.events.score`` have the first seven only, and their
#: ``score`` was the mean event probability (``bench/robustness.py --rescore`` updates them).
DETECTED_COLUMNS = ["t", "y", "x", "score", "cluster_size", "peak_dff", "on", "probability", "peak_snr", "decay_ratio"]
#: Event features compared as rankings of true against false events (AUC).
RANKINGS = ("score", "probability", "cluster_size", "peak_dff", "peak_snr", "decay_ratio")
#: A hot pixel explains a false event within this many pixels of it (any frame).
HOT_PIXEL_REACH = 3.0


def classify_detections(detected: pd.DataFrame, simulation, matched: np.ndarray, tolerance: float = 5) -> list:
    """What each detected event lies on in a simulated movie.

    Parameters
    ----------
    detected : DataFrame
        Detected events (``t, y, x``).
    simulation : exodeepfinder.simulation.Simulation
        The movie's truth: ``events`` (``t, y, x, tau``), ``spots`` (``t, y, x, kind``), ``hot_pixels``.
    matched : ndarray of bool
        Which detected events were matched to a true event (at ``tolerance``).
    tolerance : float
        Matching distance (voxels).

    Returns
    -------
    list of str
        Per detected event: ``"event"`` for a matched one, else the first that applies:
        ``"event_tail"`` (within ``tolerance`` pixels of a true event, from ``tolerance`` frames
        before it to ``max(tolerance, 3 tau)`` frames after: a second detection of it), the kind
        of the nearest simulated spot within ``tolerance`` voxels in (t, y, x) (a distractor,
        ``docked`` or ``docked_then_fused``), ``"hot_pixel"`` (within 3 px of one), else
        ``"background"``.
    """
    from scipy.spatial import cKDTree

    points = detected[["t", "y", "x"]].to_numpy(float)
    kinds = ["event" if hit else "" for hit in matched]
    events = simulation.events
    spots = simulation.spots
    spot_tree = cKDTree(spots[["t", "y", "x"]].to_numpy(float)) if len(spots) else None
    hot = simulation.hot_pixels[["y", "x"]].to_numpy(float) if len(simulation.hot_pixels) else np.empty((0, 2))
    for i, point in enumerate(points):
        if kinds[i]:
            continue
        if len(events):
            dt = point[0] - events["t"].to_numpy(float)
            near = np.hypot(point[1] - events["y"].to_numpy(float), point[2] - events["x"].to_numpy(float)) <= tolerance
            after = np.maximum(tolerance, 3 * events["tau"].to_numpy(float))
            if np.any(near & (dt >= -tolerance) & (dt <= after)):
                kinds[i] = "event_tail"
                continue
        if spot_tree is not None:
            distance, index = spot_tree.query(point, distance_upper_bound=tolerance)
            if np.isfinite(distance):
                kinds[i] = str(spots["kind"].iloc[index])
                continue
        if len(hot) and np.hypot(*(hot - point[1:]).T).min() <= HOT_PIXEL_REACH:
            kinds[i] = "hot_pixel"
            continue
        kinds[i] = "background"
    return kinds


def auc(positive, negative) -> float:
    """Probability that a value of ``positive`` exceeds one of ``negative`` (ties half); NaN if either is empty."""
    from scipy.stats import rankdata

    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    if not len(positive) or not len(negative):
        return float("nan")
    ranks = rankdata(np.concatenate([positive, negative]))
    u = ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def pooled_pr_curve(movies, thresholds, tolerance: float = 5, feature: str = "score") -> pd.DataFrame:
    """Precision and recall over several movies of the events kept at each score threshold.

    Parameters
    ----------
    movies : list of (DataFrame, DataFrame)
        ``(detected, truth)`` per movie; ``detected`` has ``t, y, x, score``.
    thresholds : sequence of float
        Keep the detected events with ``feature >= threshold`` (``-inf``: all of them).
    feature : str
        The column of ``detected`` that ranks the events (default ``score``: ``min_score``).

    Returns
    -------
    DataFrame
        ``threshold, tp, fp, fn, precision, recall, f1`` (counts summed over the movies).
    """
    from exodeepfinder.events.evaluate import match_events, summarize

    # Most thresholds keep the same events of a movie as the one before: match each kept set once.
    matched = [{} for _ in movies]
    rows = []
    for threshold in thresholds:
        tp = fp = fn = 0
        for (detected, truth), seen in zip(movies, matched):
            keep = (detected[feature] >= threshold).to_numpy()
            key = keep.tobytes()
            if key not in seen:
                seen[key] = match_events(detected[keep], truth, tolerance).summary
            summary = seen[key]
            tp, fp, fn = tp + summary["tp"], fp + summary["fp"], fn + summary["fn"]
        rows.append({"threshold": float(threshold), **summarize(tp, fp, fn)})
    return pd.DataFrame(rows)


def detected_table(record) -> pd.DataFrame:
    """The detected events of a record, with every column of :data:`DETECTED_COLUMNS` (NaN if not recorded)."""
    rows = record["detected"]
    width = len(rows[0]) if rows else len(DETECTED_COLUMNS)
    return pd.DataFrame(rows, columns=DETECTED_COLUMNS[:width]).reindex(columns=DETECTED_COLUMNS)


def read_results(path) -> list:
    """The records of ``results.jsonl`` (a last line cut short by a killed run is skipped)."""
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def analyse(records, tolerance: float = 5, n_thresholds: int = 200):
    """Per model: the pooled PR curve, the reported thresholds and the score statistics.

    Returns
    -------
    curves : DataFrame
        ``model`` and the columns of :func:`pooled_pr_curve`, over up to ``n_thresholds``
        thresholds (quantiles of the model's scores) plus :data:`REPORTED_THRESHOLDS`.
    reported : DataFrame
        ``model, threshold`` (``none``: all events kept, the ``detect`` default; ``best F1``) and the counts.
    alternatives : DataFrame
        ``model, feature, threshold`` and the counts at the best F1 when the events are
        thresholded on each of :data:`RANKINGS` instead (``-inf``: none dropped).
    statistics : DataFrame
        ``model, kind, n, median, q25, q75, auc`` (AUC of true events against that kind).
    """
    curves, reported, alternatives, statistics = [], [], [], []
    for model in dict.fromkeys(r["model"] for r in records):
        mine = [r for r in records if r["model"] == model]
        movies = [(detected_table(r),
                   pd.DataFrame(r["truth"], columns=["t", "y", "x"])) for r in mine]
        detected = pd.concat([d for d, _ in movies], ignore_index=True)
        scores = detected["score"].to_numpy(float)
        grid = np.unique(np.concatenate([np.quantile(scores, np.linspace(0, 1, n_thresholds)) if len(scores) else [],
                                         REPORTED_THRESHOLDS]))
        curve = pooled_pr_curve(movies, np.concatenate([[-np.inf], grid]), tolerance)
        curve.insert(0, "model", model)
        curves.append(curve)
        best = curve.loc[curve["f1"].fillna(-1).idxmax()]
        best_label = "best F1 (none)" if np.isinf(best["threshold"]) else f"best F1 ({best['threshold']:.4f})"
        for label, row in [("none", curve.iloc[0])] + \
                [(f"{t:g}", curve.loc[np.isclose(curve["threshold"], t)].iloc[0]) for t in REPORTED_THRESHOLDS] + \
                [(best_label, best)]:
            reported.append({"model": model, "min_score": label, **{k: int(row[k]) for k in ("tp", "fp", "fn")},
                             **{k: row[k] for k in ("precision", "recall", "f1")}})
        for feature in RANKINGS:
            values = detected[feature].to_numpy(float)
            values = values[np.isfinite(values)]
            # events whose feature could not be measured (NaN) are kept by every threshold
            kept = [(d.assign(**{feature: d[feature].fillna(np.inf)}), t) for d, t in movies]
            feature_curve = pooled_pr_curve(kept, np.concatenate([[-np.inf], np.unique(np.quantile(
                values, np.linspace(0, 1, n_thresholds)))]) if len(values) else [-np.inf], tolerance, feature)
            top = feature_curve.loc[feature_curve["f1"].fillna(-1).idxmax()]
            alternatives.append({"model": model, "feature": feature,
                                 "threshold": "none" if np.isinf(top["threshold"]) else f"{top['threshold']:.4g}",
                                 **{k: int(top[k]) for k in ("tp", "fp", "fn")},
                                 **{k: top[k] for k in ("precision", "recall", "f1")}})
        true = detected["on"] == "event"
        groups = {"true events": true, "false, all": ~true,
                  "false, on distractors": detected["on"].isin(DISTRACTOR_KINDS)}
        groups.update({f"false, {kind}": detected["on"] == kind for kind in FALSE_KINDS})
        for kind, chosen in groups.items():
            if not chosen.any() and kind[7:] in FALSE_KINDS:
                continue
            values = detected.loc[chosen, "score"].to_numpy(float)
            row = {"model": model, "kind": kind, "n": int(chosen.sum()),
                   "median": float(np.median(values)) if len(values) else float("nan"),
                   "q25": float(np.quantile(values, 0.25)) if len(values) else float("nan"),
                   "q75": float(np.quantile(values, 0.75)) if len(values) else float("nan")}
            for feature in RANKINGS:
                feature_values = detected[feature].to_numpy(float)
                row[f"AUC {feature}"] = float("nan") if kind == "true events" else \
                    auc(feature_values[true & np.isfinite(feature_values)],
                        feature_values[chosen & np.isfinite(feature_values)])
            probabilities = detected.loc[chosen, "probability"].to_numpy(float)
            row["share of probabilities = 1"] = float(np.mean(probabilities >= 1.0)) if len(values) else float("nan")
            statistics.append(row)
    return (pd.concat(curves, ignore_index=True), pd.DataFrame(reported), pd.DataFrame(alternatives),
            pd.DataFrame(statistics))


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a GitHub markdown table (floats rounded, NaN as '-')."""
    def cell(value):
        if isinstance(value, (float, np.floating)):
            return "-" if not np.isfinite(value) else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def scores_figure(curves: pd.DataFrame, records):
    """Per model: the pooled PR curve over min_score, and the scores of true and false events by kind."""
    from matplotlib.figure import Figure

    models = list(dict.fromkeys(curves["model"]))
    figure = Figure(figsize=(12, 4.2 * len(models)), layout="constrained")
    axes = figure.subplots(len(models), 2, squeeze=False, width_ratios=(1, 1.6))
    for row, model in enumerate(models):
        curve = curves[curves["model"] == model]
        ax = axes[row, 0]
        ax.plot(curve["recall"], curve["precision"], ".-", color="tab:blue", markersize=3)
        best = curve.loc[curve["f1"].fillna(-1).idxmax()]
        at = "no min_score" if np.isinf(best["threshold"]) else f"min_score {best['threshold']:.4f}"
        ax.plot(best["recall"], best["precision"], "o", color="tab:red", label=f"best F1 {best['f1']:.3f} at {at}")
        ax.plot(curve["recall"].iloc[0], curve["precision"].iloc[0], "s", color="black",
                label=f"no min_score: F1 {curve['f1'].iloc[0]:.3f}")
        ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.02),
               title=f"{model}: precision-recall over min_score")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
        detected = pd.concat([detected_table(r) for r in records if r["model"] == model], ignore_index=True)
        kinds = ["event"] + [k for k in FALSE_KINDS if (detected["on"] == k).any()]
        values = [detected.loc[detected["on"] == k, "score"].to_numpy(float) for k in kinds]
        ax = axes[row, 1]
        ax.boxplot(values, orientation="horizontal", showfliers=False, widths=0.6)
        rng = np.random.default_rng(0)
        for i, v in enumerate(values, start=1):
            ax.plot(v, i + rng.uniform(-0.2, 0.2, len(v)), ".", alpha=0.5, markersize=5,
                    color="tab:green" if i == 1 else "tab:red")
        ax.set_yticks(range(1, len(kinds) + 1), [f"{'true event' if k == 'event' else k} ({len(v)})"
                                                 for k, v in zip(kinds, values)])
        ax.invert_yaxis()
        ax.set(xlabel="event score", xlim=(-0.02, 1.02))
        # long model names (previous_bundled) ran the full title past the panel
        ax.set_title(f"{model}: scores of true events and of false ones by what they lie on", fontsize="medium")
        ax.grid(alpha=0.3, axis="x")
    return figure


def write_report(folder, records, tolerance: float = 5, overwrite: bool = True) -> str:
    """Write ``scores.md``, ``scores_pr.csv`` and ``scores.png`` into ``folder``; return the markdown."""
    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.io.figures import save_figure
    from exodeepfinder.io.tables import write_csv

    folder = Path(folder)
    curves, reported, alternatives, statistics = analyse(records, tolerance)
    text = "\n\n".join([
        f"Event scores, pooled over {len({(r['cell'], r['seed']) for r in records})} movies "
        f"(tolerance {tolerance:g}; min_size 10).",
        "Precision and recall over `min_score` (`none`: every event `detect` reports):",
        markdown(reported),
        "Scores of true events and of false events by what they lie on (AUC: probability that a true "
        "event scores higher than a false one of that group):",
        markdown(statistics),
        "Best F1 if the events were thresholded on another feature instead of the score "
        "(`probability`: mean event probability of the cluster; `cluster_size`: voxels; `peak_dff`, `peak_snr`, "
        "`decay_ratio`: measured by `detect`, events without one kept):",
        markdown(alternatives),
    ]) + "\n"
    write_csv(curves, folder / "scores_pr.csv", overwrite=overwrite)
    save_figure(scores_figure(curves, records), folder / "scores.png", dpi=110, overwrite=overwrite)
    with atomic_output(folder / "scores.md", overwrite=overwrite) as scratch:
        scratch.write_text(text)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="output folder of bench/robustness.py (holds results.jsonl)")
    parser.add_argument("--tolerance", type=float, default=5.0)
    args = parser.parse_args(argv)
    records = read_results(args.folder / "results.jsonl")
    if not records:
        parser.error(f"{args.folder / 'results.jsonl'}: no results")
    print(write_report(args.folder, records, args.tolerance))


if __name__ == "__main__":
    main()
