"""Where a model's misses and false events are, and whether detection settings would recover them.

``bench/robustness.py`` says how well a model does in each cell of its grid; this script says why
it fails where it does. It segments held-out movies of the same grid once each (seeds
``--base-seed + 1000 k + cell``: 50000 and up by default, apart from the grid's own 10000-19999
and from every training set) and reports, pooled over the movies:

- **detection settings**: event F1 when the events are clustered from the voxels whose event
  probability is at least each of ``--thresholds`` (instead of ``detect``'s most probable class)
  and clusters smaller than each of ``--min-sizes`` are dropped; pooled over all cells, above the
  lowest brightness, cells below F1 0.9 and the worst cell. If lowering the threshold recovered
  the missed events, this is where it would show;
- **missed events**: the network's highest event probability near each missed event (frames
  ``t-2 .. t+3``, ``t`` its fusion frame, within 3 px), by brightness: near 0 means the network
  does not see the event at all, near 1 that the clustering or the size filter lost it;
- **recall by what the simulated event was**: its decay time, spot size, fusion frame (the first
  frames of a movie have no frame before the fusion to show a rise) and how it fused;
- **false events** by what they lie on (:func:`scores.classify_detections`) and by frame.

    .venv/bin/python bench/misses.py --out /tmp/misses                       # bundled model, 3 movies x 24 cells
    .venv/bin/python bench/misses.py --out R --weights new.h5 --movies-per-cell 6
    .venv/bin/python bench/misses.py --out R --base-seed 10000               # the grid's own movies
    .venv/bin/python bench/misses.py --out /tmp/misses_quick --quick         # smoke run, 1 minute

With ``--base-seed 10000`` and the same shape the default row ("argmax", min size 10) reproduces
``bench/robustness.py``'s counts for its first movies. Writes ``OUT/misses.md`` (the report),
``OUT/settings.csv`` (F1 per cell and setting), ``OUT/truth.csv`` (every simulated event: found or
not, its parameters and the probability near it) and ``OUT/detections.csv`` (default settings:
every detected event, true or false, and what it lies on).
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
import robustness  # noqa: E402  (bench/robustness.py: the grid)
import scores  # noqa: E402  (bench/scores.py: what a false event lies on)
from machine import cpu_name  # noqa: E402
from scores import markdown  # noqa: E402

#: Seeds of the held-out movies: above the grid's (10000-19999) and the training sets'.
HELD_OUT_BASE_SEED = 50_000
#: Frames (relative to the fusion frame) and pixels searched for the network's event probability near a missed event.
NEAR_FRAMES, NEAR_PIXELS = (-2, 3), 3
#: Bins of the recall tables: decay time (frames), spot sigma (px), fusion frame from the movie's start.
TAU_BINS = (0, 0.75, 1, 2, 5, 10, 100)
SIGMA_BINS = (0, 1.2, 1.6, 2.0, 2.6)
GOAL_F1 = robustness.GOAL_F1


def segment_simulation(model, simulation, backend: str):
    """Labels and event probability of a simulated movie (``detect``'s segmentation, kept for re-clustering)."""
    import exodeepfinder as edf

    labels, class_scores = edf.segment(simulation.movie, model, backend=backend, return_scores=True)
    return labels, np.ascontiguousarray(class_scores[:, 2])


def events_of(labels, event_probability, threshold, min_size):
    """Events clustered from the argmax labels (``threshold`` None, as ``detect``) or from probability >= threshold."""
    from exodeepfinder.events.cluster import cluster_events

    if threshold is not None:
        labels = np.where(event_probability >= threshold, 2, 0).astype(np.int8)
    return cluster_events(labels, 5, scores=event_probability, min_size=min_size)


def probability_near(event_probability, truth) -> np.ndarray:
    """Highest event probability near each true event (see :data:`NEAR_FRAMES`, :data:`NEAR_PIXELS`)."""
    near = np.zeros(len(truth))
    for i, (t, y, x) in enumerate(np.rint(truth[["t", "y", "x"]].to_numpy(float)).astype(int)):
        box = event_probability[max(t + NEAR_FRAMES[0], 0):t + NEAR_FRAMES[1] + 1,
                                max(y - NEAR_PIXELS, 0):y + NEAR_PIXELS + 1,
                                max(x - NEAR_PIXELS, 0):x + NEAR_PIXELS + 1]
        near[i] = float(box.max()) if box.size else 0.0
    return near


def setting_row(threshold, min_size, matching) -> dict:
    """tp / fp / fn of one detection setting (``threshold`` None: the most probable class, as ``detect``)."""
    return {"setting": "argmax" if threshold is None else f"p >= {threshold:g}", "threshold": threshold,
            "min_size": min_size, **{k: matching.summary[k] for k in ("tp", "fp", "fn")}}


def analyse_movie(model, cell, seed, args):
    """Per-setting counts, the true events and the detected events (default settings) of one movie."""
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.pipeline import DEFAULT_MIN_SIZE

    simulation = robustness.simulate_cell(cell, seed, args.shape, args.event_rate)
    labels, event_probability = segment_simulation(model, simulation, args.backend)
    truth = simulation.events.reset_index(drop=True)
    detected = events_of(labels, event_probability, None, DEFAULT_MIN_SIZE)
    matching = match_events(detected, truth, args.tolerance)
    rows = [setting_row(None, DEFAULT_MIN_SIZE, matching)]
    rows += [setting_row(threshold, min_size, match_events(events_of(labels, event_probability, threshold, min_size),
                                                           truth, args.tolerance))
             for threshold in args.thresholds for min_size in args.min_sizes]
    where = {"cell": cell.index, "brightness": cell.brightness, "kinetics": cell.kinetics, "camera": cell.camera,
             "seed": seed}
    settings = [{**where, **row} for row in rows]
    matched = detected.index.isin(matching.pairs["detected"])
    truth_rows = truth[["t", "y", "x", "amplitude", "tau", "sigma", "kind"]].assign(
        found=truth.index.isin(matching.pairs["reference"]),
        probability_near=probability_near(event_probability, truth), **where)
    detected_rows = detected[["t", "y", "x", "cluster_size", "score"]].rename(columns={"score": "probability"}).assign(
        on=scores.classify_detections(detected, simulation, matched, args.tolerance), **where)
    return settings, truth_rows, detected_rows


def f1(counts):
    """Event F1 of tp / fp / fn counts (a row or a table; 0 where there is nothing to find or found)."""
    return 2 * counts["tp"] / np.maximum(2 * counts["tp"] + counts["fp"] + counts["fn"], 1)


def settings_report(settings: pd.DataFrame, lowest: str) -> pd.DataFrame:
    """One row per setting: pooled F1, pooled above the lowest brightness, cells below the goal, worst cell."""
    keys = ["setting", "min_size"]
    per_cell = settings.groupby(keys + ["cell", "brightness"], sort=False)[["tp", "fp", "fn"]].sum().reset_index()
    per_cell["f1"] = f1(per_cell)
    above = per_cell[per_cell["brightness"] != lowest]
    rows = []
    for (setting, min_size), group in settings.groupby(keys, sort=False):
        counts = group[["tp", "fp", "fn"]].sum()
        cells_above = above[(above["setting"] == setting) & (above["min_size"] == min_size)]
        counts_above = cells_above[["tp", "fp", "fn"]].sum()
        rows.append({"setting": setting, "min size": min_size, "F1": f1(counts), "tp": counts["tp"],
                     "fp": counts["fp"], "fn": counts["fn"], f"F1 above {lowest}": f1(counts_above) if len(cells_above) else np.nan,
                     f"cells above {lowest} below {GOAL_F1}": int((cells_above["f1"] < GOAL_F1).sum()),
                     f"worst cell above {lowest}": cells_above["f1"].min()})
    return pd.DataFrame(rows)


def recall_by(truth: pd.DataFrame, column, bins=None, labels=None) -> pd.DataFrame:
    """Events and recall per bin of ``column`` (or per value), by brightness and pooled."""
    key = pd.cut(truth[column], bins, labels=labels) if bins is not None else truth[column]
    table = truth.groupby([key, "brightness"], observed=True, sort=True)["found"].agg(["size", "mean"]).unstack()
    pooled = truth.groupby(key, observed=True)["found"].agg(["size", "mean"])
    out = pd.DataFrame(index=pooled.index)
    out.index.name = column
    for brightness in sorted(truth["brightness"].unique(), key=float):
        if ("size", brightness) in table:
            out[f"{brightness}: n"] = table[("size", brightness)].fillna(0).astype(int)
            out[f"{brightness}: recall"] = table[("mean", brightness)]
    out["all: n"], out["all: recall"] = pooled["size"], pooled["mean"]
    return out.reset_index()


def fusion_frame_bins(n_frames: int) -> tuple:
    """Bins and labels of the fusion frame: each of the first 3 frames, the middle, the last 6 frames."""
    return ((-0.5, 0.5, 1.5, 2.5, n_frames - 6.5, n_frames + 0.5),
            ("0", "1", "2", f"3-{n_frames - 7}", f"{n_frames - 6}-{n_frames - 1}"))


def report(settings, truth, detected, args, lowest, seconds) -> str:
    n_frames = args.shape[0]
    missed = truth[~truth["found"]]
    lines = [f"Movies: {truth[['cell', 'seed']].drop_duplicates().shape[0]} "
             f"({len(set(truth['cell']))} cells x {args.movies_per_cell}) of {' x '.join(map(str, args.shape))}, "
             f"seeds {args.base_seed} + 1000 k + cell; {len(truth)} simulated events; weights {args.weights}; "
             f"tolerance {args.tolerance:g}; {seconds / 60:.1f} min on {cpu_name()}.", "",
             "## Detection settings", "",
             "`argmax` is `detect`'s default (the most probable class, min size 10); `p >= x` clusters the voxels "
             "whose event probability is at least x.", "",
             markdown(settings_report(settings, lowest)), "",
             "## Missed events: the network's event probability near them", "",
             f"Highest event probability within frames t{NEAR_FRAMES[0]:+d} to t{NEAR_FRAMES[1]:+d} and "
             f"{NEAR_PIXELS} px of each missed event (t: its fusion frame).", ""]
    rows = []
    for brightness, group in truth.groupby("brightness", sort=False):
        lost = group[~group["found"]]["probability_near"]
        quantiles = np.quantile(lost, (0.25, 0.5, 0.75)) if len(lost) else (np.nan,) * 3
        rows.append({"brightness": brightness, "events": len(group), "missed": len(lost),
                     "probability q25": quantiles[0], "median": quantiles[1], "q75": quantiles[2],
                     "missed with p < 0.2": int((lost < 0.2).sum()), "missed with p >= 0.5": int((lost >= 0.5).sum())})
    lines += [markdown(pd.DataFrame(rows).sort_values("brightness", key=lambda b: b.astype(float))), "",
              "## Recall by what the simulated event was", "",
              "Decay time (frames):", "", markdown(recall_by(truth, "tau", TAU_BINS)), "",
              "Spot size (PSF sigma, px):", "", markdown(recall_by(truth, "sigma", SIGMA_BINS)), "",
              "Fusion frame (the first frames have no frame before the fusion, or few):", "",
              markdown(recall_by(truth, "t", *fusion_frame_bins(n_frames))), "",
              "How it fused:", "", markdown(recall_by(truth, "kind")), "",
              "## False events (default settings)", ""]
    false = detected[detected["on"] != "event"]
    true = detected[detected["on"] == "event"]
    on = false["on"].value_counts().rename_axis("lies on").reset_index(name="false events")
    lines += [f"{len(true)} true and {len(false)} false events; {len(missed)} missed.", "", markdown(on), ""]
    bins, labels = fusion_frame_bins(n_frames)
    by_frame = pd.DataFrame({kind: events.groupby(pd.cut(events["t"], bins, labels=labels), observed=False).size()
                             for kind, events in (("true", true), ("false", false))})
    lines += ["By frame:", "", markdown(by_frame.rename_axis("t").reset_index())]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", default="bundled", help="'bundled', 'official' or a weights file")
    parser.add_argument("--official", type=Path, help="official weights file (with --weights official)")
    parser.add_argument("--brightness", nargs="+", choices=list(robustness.BRIGHTNESS),
                        default=list(robustness.BRIGHTNESS))
    parser.add_argument("--kinetics", nargs="+", choices=list(robustness.KINETICS), default=["fast", "slow+spread"])
    parser.add_argument("--cameras", nargs="+", choices=robustness.CAMERAS, default=list(robustness.CAMERAS))
    parser.add_argument("--movies-per-cell", type=int, default=3)
    parser.add_argument("--shape", nargs=3, type=int, default=[64, 96, 96], metavar=("FRAMES", "HEIGHT", "WIDTH"))
    parser.add_argument("--event-rate", type=float, default=12.0)
    parser.add_argument("--base-seed", type=int, default=HELD_OUT_BASE_SEED)
    parser.add_argument("--tolerance", type=float, default=5.0)
    parser.add_argument("--thresholds", nargs="+", type=float, default=[0.5, 0.3, 0.2, 0.1])
    parser.add_argument("--min-sizes", nargs="+", type=int, default=[5, 10, 20])
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "openvino"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 cells, 1 movie of 48 x 80 x 80")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    if args.quick:
        for name, value in robustness.QUICK.items():
            setattr(args, name, value)
    if args.movies_per_cell < 1:
        parser.error("--movies-per-cell: must be >= 1")
    if any(not 0 < t <= 1 for t in args.thresholds):
        parser.error("--thresholds: each must be in (0, 1]")
    return args


def main(argv=None):
    args = parse_args(argv)
    import exodeepfinder as edf
    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.io.tables import write_csv

    (_, weights), = robustness.resolve_models([args.weights], args.official)
    model = edf.load_model(str(weights), device=args.device)
    cells = robustness.grid_cells(args.brightness, args.kinetics, args.cameras)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; {len(cells)} cells x {args.movies_per_cell} movie(s) of "
          f"{' x '.join(map(str, args.shape))}; weights {weights}", flush=True)
    start = time.perf_counter()
    settings, truth, detected = [], [], []
    for movie in range(args.movies_per_cell):
        for cell in cells:
            seed = cell.seed(movie, args.base_seed)
            movie_settings, movie_truth, movie_detected = analyse_movie(model, cell, seed, args)
            settings += movie_settings
            truth.append(movie_truth)
            detected.append(movie_detected)
            default = movie_settings[0]
            print(f"cell {cell.index:2d} ({cell.name}) seed {seed}: {len(movie_truth)} events, tp {default['tp']} "
                  f"fp {default['fp']} fn {default['fn']}", flush=True)
    settings, truth, detected = pd.DataFrame(settings), pd.concat(truth), pd.concat(detected)
    lowest = min(args.brightness, key=float)
    text = report(settings, truth, detected, args, lowest, time.perf_counter() - start)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(settings, args.out / "settings.csv", overwrite=True)
    write_csv(truth, args.out / "truth.csv", overwrite=True)
    write_csv(detected, args.out / "detections.csv", overwrite=True)
    with atomic_output(args.out / "misses.md", overwrite=True) as scratch:
        scratch.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
