"""Favour the event class when labelling voxels: does it find the events the network misses?

``detect`` labels each voxel with its most probable class. This bench multiplies the event
probability by a factor before that choice (1 is what ``detect`` does), then clusters, measures,
scores and matches the events as ``detect`` and ``bench/robustness.py`` do, on the movies of the
robustness grid. It prints, per factor, the true and false events, F1, and the recall of events of
vesicles docked before fusing (the ones the bundled model misses most). Each movie is segmented once;
the factors reuse its class probabilities.

Usage::

    python bench/event_bias.py                                  # bundled model, grid of docs/robustness.md
    python bench/event_bias.py --weights my_weights.h5 --factors 1 2 4 --movies-per-cell 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustness  # noqa: E402  (bench/robustness.py: the grid and its movies)
from machine import cpu_name  # noqa: E402


def measure(movie, truth, scores, factor: float, tolerance: float) -> dict:
    """Events found when the event probability is multiplied by ``factor``, against ``truth``."""
    import inspect

    import exodeepfinder as edf
    from exodeepfinder.events.cluster import cluster_events
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.events.measure import measure_events
    from exodeepfinder.events.score import score_events

    weighted = scores.astype(np.float32) * np.array([1, 1, factor], np.float32)[None, :, None, None]
    labels = np.argmax(weighted, axis=1).astype(np.int8)
    # cluster as detect does by default (cluster_events alone keeps clusters of any size)
    defaults = {name: inspect.signature(edf.detect).parameters[name].default for name in ("cluster_radius", "min_size")}
    events = score_events(measure_events(movie, cluster_events(labels, scores=scores, **defaults)))
    matching = match_events(events, truth, tolerance)
    docked = truth["kind"].astype(str).to_numpy() == "docked_then_fused"
    found = truth.index.isin(matching.pairs["reference"])
    return {**{k: int(matching.summary[k]) for k in ("tp", "fp", "fn")},
            "docked": int(docked.sum()), "docked_found": int((docked & found).sum())}


def summary(records: pd.DataFrame, by) -> pd.DataFrame:
    totals = records.groupby(by)[["tp", "fp", "fn", "docked", "docked_found"]].sum()
    totals["F1"] = (2 * totals.tp / (2 * totals.tp + totals.fp + totals.fn)).round(3)
    totals["docked recall"] = (totals.docked_found / totals.docked).round(3)
    return totals.drop(columns=["docked", "docked_found"])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="bundled", help="'bundled', 'official' or a weights file")
    parser.add_argument("--factors", nargs="+", type=float, default=[1.0, 1.25, 1.5, 2.0, 3.0])
    parser.add_argument("--movies-per-cell", type=int, default=3)
    parser.add_argument("--shape", nargs=3, type=int, default=[64, 96, 96])
    parser.add_argument("--kinetics", nargs="+", choices=list(robustness.KINETICS), default=["fast", "slow+spread"])
    parser.add_argument("--event-rate", type=float, default=12.0)
    parser.add_argument("--tolerance", type=float, default=5.0)
    args = parser.parse_args(argv)
    import exodeepfinder as edf

    [(label, path)] = robustness.resolve_models([args.weights])
    model = edf.load_model(path)
    cells = robustness.grid_cells(list(robustness.BRIGHTNESS), args.kinetics, robustness.CAMERAS)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; model {label}; {len(cells)} cells x "
          f"{args.movies_per_cell} movie(s) of {' x '.join(map(str, args.shape))}", flush=True)
    start, rows = time.perf_counter(), []
    for cell in cells:
        for movie_index in range(args.movies_per_cell):
            simulation = robustness.simulate_cell(cell, cell.seed(movie_index), args.shape, args.event_rate)
            detection = edf.detect(simulation.movie, model)
            for factor in args.factors:
                rows.append({"brightness": int(cell.brightness), "factor": factor,
                             **measure(simulation.movie, simulation.events, detection.scores, factor, args.tolerance)})
        print(f"  {cell.name}: done", flush=True)
    records = pd.DataFrame(rows)
    print(f"wall time {(time.perf_counter() - start) / 60:.1f} min\n")
    print("All cells, by factor on the event probability:")
    print(summary(records, "factor").to_string())
    print("\nF1 by brightness (photons) and factor:")
    print(summary(records, ["brightness", "factor"])["F1"].unstack().to_string())


if __name__ == "__main__":
    main()
