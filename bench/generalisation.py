"""Detection quality on movies of the independent evaluation simulator (bench/evalsim).

For each family, N movies of a seed range (``test``: seeds 900000+, the figures we report;
``calibration``: seeds 800000-899999, for fitting scores or thresholds, never reported as test
figures) are simulated, detected with the package's own ``exodeepfinder.detect`` (its defaults,
a chosen model and ``--min_score``), and matched to the truth with
``exodeepfinder.events.evaluate.match_events`` (default tolerance, 5 voxels). Figures per family
and pooled over families: found (tp) / false (fp) / missed (fn), precision, recall, F1 with a
95% bootstrap interval over movies, false events per true event, and the F1 the same detections
would give with ``--min_score 0.5`` and ``0.7``.

    PYTHONPATH=$PWD nice -n 10 .venv/bin/python bench/generalisation.py \
        [--families default dim ...] [--n 4] [--seed_range test|calibration] \
        [--weights bundled|official|FILE] [--min_score S] [--min_confidence P] [--out DIR] [--jobs 1] [--report_only]

Writes into ``--out`` (default /work/runs/evalsim/<weights>_<seed_range>):

- ``<family>_<seed>/candidates.csv``: every detected event with all its columns (score,
  probability, cluster_size, peak_dff, peak_snr, decay_ratio...), ``matched``, the truth
  attributes of the matched event (``truth_*``), and what the movie held there
  (``near_kind``: the nearest simulated object within 3 px at that frame, e.g. docked,
  flickering, blink; ``none`` for noise);
- ``<family>_<seed>/truth.csv`` (the true events) and ``result.json`` (counts, seconds);
- ``summary.csv``, ``per_movie.csv``, ``features.csv`` (median features of false and true
  events), ``recall_by_kind.csv`` (recall per release x origin), ``report.md`` (all tables, the
  machine, the date).

Movies already done with the same settings are reused (a run can be resumed or extended with a
larger ``--n``). Movies are processed family by family in round robin (first movie of every
family, then the second...), so an interrupted run is balanced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.evalsim import FAMILIES, GENERATOR, seeds_of, simulate  # noqa: E402

OFFICIAL = Path("/work/shared/data/net_weights_FINAL.h5")
FEATURES = ["score", "probability", "cluster_size", "peak_dff", "peak_snr", "decay_ratio"]
THRESHOLDS = (0.5, 0.7)
NEAR_PX = 3.0
_MODEL = {}


def resolve_weights(weights: str):
    """What ``load_model`` gets for ``--weights``: the bundled model, the official file, or a path."""
    if weights == "official":
        return str(OFFICIAL) if OFFICIAL.is_file() else "official"
    return weights


def _model(weights):
    import exodeepfinder as edf

    if weights not in _MODEL:
        _MODEL[weights] = edf.load_model(resolve_weights(weights), device="cpu")
    return _MODEL[weights]


def nearest_objects(detected: pd.DataFrame, objects: pd.DataFrame) -> pd.DataFrame:
    """For each detection: the nearest simulated object (frames t-1..t+1, within NEAR_PX pixels)."""
    rows = []
    by_frame = dict(tuple(objects.groupby("frame")))
    for t, y, x in detected[["t", "y", "x"]].to_numpy(float):
        frames = [by_frame[f] for f in range(int(round(t)) - 1, int(round(t)) + 2) if f in by_frame]
        near = pd.concat(frames) if frames else objects.iloc[:0]
        distance = np.hypot(near["y"].to_numpy() - y, near["x"].to_numpy() - x)
        if len(distance) and distance.min() <= NEAR_PX:
            best = near.iloc[int(np.argmin(distance))]
            rows.append({"near_kind": best["kind"], "near_distance": float(distance.min()),
                         "near_photons": float(best["photons"])})
        else:
            rows.append({"near_kind": "none", "near_distance": np.nan, "near_photons": np.nan})
    return pd.DataFrame(rows, index=detected.index, columns=["near_kind", "near_distance", "near_photons"])


def candidates_table(detected, truth, objects, matching) -> pd.DataFrame:
    """Every detection with ``matched``, the matched truth's attributes (``truth_*``) and ``near_*``."""
    table = detected.copy()
    table["matched"] = False
    table.loc[matching.pairs["detected"].to_numpy(), "matched"] = True
    attributes = truth.drop(columns=["class_label"]).add_prefix("truth_")
    matched = attributes.loc[matching.pairs["reference"].to_numpy()].set_axis(matching.pairs["detected"].to_numpy())
    table = table.join(matched)
    paired = matching.pairs["detected"].to_numpy()
    table["match_distance"] = pd.Series(matching.pairs["distance"].to_numpy(), index=paired)
    return table.join(nearest_objects(detected, objects))


def _settings(args) -> dict:
    settings = {"generator": GENERATOR, "weights": args.weights, "min_score": args.min_score,
                "shape": list(args.shape), "events": args.events}
    min_confidence = getattr(args, "min_confidence", None)
    if min_confidence != 0:  # 0 keeps every event, as detect did before it had a confidence
        settings["min_confidence"] = "default" if min_confidence is None else min_confidence
    return settings


def finished(family: str, seed: int, args):
    """The result of a movie already done with the same settings, or None."""
    result_file = Path(args.out) / f"{family}_{seed}" / "result.json"
    if result_file.is_file():
        result = json.loads(result_file.read_text())
        if result.get("settings") == _settings(args):
            return result
    return None


def run_movie(family: str, seed: int, args) -> dict:
    """Simulate, detect and match one movie; write its files; return its result row."""
    import exodeepfinder as edf
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.io.events import write_events

    folder = Path(args.out) / f"{family}_{seed}"
    done = finished(family, seed, args)
    if done is not None:
        return done
    sim = simulate(family, seed, shape=args.shape, n_events=args.events)
    start = time.perf_counter()
    detection = edf.detect(sim.movie, _model(args.weights), min_score=args.min_score,
                           min_confidence=getattr(args, "min_confidence", None),
                           pixel_size=sim.metadata["pixel_size_um"], frame_interval=sim.metadata["frame_interval_s"])
    seconds = time.perf_counter() - start
    matching = match_events(detection.events, sim.events)
    folder.mkdir(parents=True, exist_ok=True)
    write_events(sim.events, folder / "truth.csv", overwrite=True)  # a rerun of the benchmark replaces it
    candidates_table(detection.events, sim.events, sim.objects, matching).to_csv(
        folder / "candidates.csv", index=False, float_format="%.6g")
    result = {"family": family, "seed": seed, **matching.summary, "seconds": round(seconds, 1),
              "settings": _settings(args)}
    (folder / "result.json").write_text(json.dumps(result, indent=1))
    return result


def rematch(folder: Path, threshold: float) -> tuple:
    """tp, fp, fn of a movie's detections kept at ``score >= threshold``."""
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.io.events import read_events

    candidates = pd.read_csv(folder / "candidates.csv")
    truth = read_events(folder / "truth.csv")
    summary = match_events(candidates[candidates["score"] >= threshold], truth).summary
    return summary["tp"], summary["fp"], summary["fn"]


def _threshold_column(threshold: float) -> str:
    return "f1_min_score_" + f"{threshold:g}".replace(".", "")


def summarize(results: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Per family and pooled: counts, precision, recall, F1 (95% interval), false per true, F1 at thresholds."""
    from exodeepfinder.events.evaluate import pooled_summary, summarize as ratios

    rows = []
    groups = [(family, part) for family, part in results.groupby("family", sort=False)] + [("pooled", results)]
    for name, part in groups:
        summary = pooled_summary(part[["tp", "fp", "fn"]].to_numpy(),
                                 strata=part["family"].to_numpy() if name == "pooled" else None)
        row = {"family": name, "movies": len(part), **summary,
               "false_per_true": summary["fp"] / max(summary["tp"] + summary["fn"], 1)}
        for threshold in THRESHOLDS:
            counts = np.array([rematch(out / f"{f}_{s}", threshold) for f, s in zip(part["family"], part["seed"])])
            row[_threshold_column(threshold)] = ratios(*counts.sum(axis=0))["f1"]
        row["seconds_per_movie"] = part["seconds"].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def feature_table(results: pd.DataFrame, out: Path) -> tuple:
    """Median features of true and false events per family, and what the false events sat on."""
    frames = [pd.read_csv(out / f"{f}_{s}" / "candidates.csv").assign(family=f)
              for f, s in zip(results["family"], results["seed"])]
    candidates = pd.concat(frames, ignore_index=True)
    candidates["kind"] = np.where(candidates["matched"], "true", "false")
    order = {family: i for i, family in enumerate(dict.fromkeys(results["family"]))}
    candidates = candidates.sort_values(["family", "kind"], key=lambda c: c.map(order) if c.name == "family"
                                        else c.map({"true": 0, "false": 1}), kind="stable")
    medians = candidates.groupby(["family", "kind"], sort=False)[FEATURES].median().reset_index()
    medians.insert(2, "n", candidates.groupby(["family", "kind"], sort=False).size().to_numpy())
    false = candidates[~candidates["matched"]]
    sat_on = pd.crosstab(false["family"], false["near_kind"]) if len(false) else pd.DataFrame()
    return medians, sat_on


def recall_by_kind(results: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Recall per family and kind of true event (release x origin), from each movie's truth and candidates."""
    from exodeepfinder.io.events import read_events

    parts = []
    for family, seed in zip(results["family"], results["seed"]):
        folder = out / f"{family}_{seed}"
        truth = read_events(folder / "truth.csv")
        found = set(pd.read_csv(folder / "candidates.csv").get("truth_obj_id", pd.Series(dtype=float)).dropna())
        parts.append(truth.assign(family=family, found=truth["obj_id"].isin(found)))
    truth = pd.concat(parts, ignore_index=True)
    table = truth.groupby(["family", "release", "origin"], sort=False)["found"].agg(["size", "mean"]).reset_index()
    order = {family: i for i, family in enumerate(dict.fromkeys(results["family"]))}
    table = table.sort_values(["family", "release", "origin"], key=lambda c: c.map(order) if c.name == "family" else c)
    return table.rename(columns={"size": "n", "mean": "recall"}).reset_index(drop=True)


def machine() -> str:
    """CPU model name (lscpu) and core count."""
    name = platform.processor() or "unknown CPU"
    try:
        for line in os.popen("lscpu").read().splitlines():
            if line.startswith("Model name"):
                name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def _fmt(value, digits=3):
    return "-" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def report(summary, medians, sat_on, args, recall_by=None) -> str:
    """The markdown report."""
    lines = [f"# Detection on the evaluation simulator ({GENERATOR})", "",
             f"{time.strftime('%Y-%m-%d')}, {machine()}, measured beside other jobs. Weights: `{args.weights}`; "
             f"`detect` defaults, min_score {args.min_score}, min_confidence "
             f"{'detect default' if getattr(args, 'min_confidence', None) is None else args.min_confidence}; "
             f"{args.seed_range} seeds; movies "
             f"{' x '.join(map(str, args.shape))}, {args.events} events each; matching tolerance 5 voxels.", "",
             "| family | movies | found / false / missed | precision | recall | F1 (95% interval) | false per true "
             "| F1 at score >= 0.5 | F1 at score >= 0.7 | s per movie |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary.itertuples():
        lines.append(f"| {row.family} | {row.movies} | {row.tp} / {row.fp} / {row.fn} | {_fmt(row.precision)} | "
                     f"{_fmt(row.recall)} | {_fmt(row.f1)} ({_fmt(row.f1_low, 2)}-{_fmt(row.f1_high, 2)}) | "
                     f"{_fmt(row.false_per_true, 2)} | {_fmt(row.f1_min_score_05)} | {_fmt(row.f1_min_score_07)} | "
                     f"{row.seconds_per_movie:.0f} |")
    lines += ["", "Median features of true and false events:", "",
              "| family | events | n | " + " | ".join(FEATURES) + " |", "|---" * (3 + len(FEATURES)) + "|"]
    for row in medians.itertuples(index=False):
        lines.append(f"| {row[0]} | {row[1]} | {row[2]} | " + " | ".join(_fmt(v) for v in row[3:]) + " |")
    if recall_by is not None and len(recall_by):
        lines += ["", "Recall by kind of true event:", "", "| family | release | origin | n | recall |",
                  "|---|---|---|---|---|"]
        for row in recall_by.itertuples(index=False):
            lines.append(f"| {row.family} | {row.release} | {row.origin} | {row.n} | {_fmt(row.recall, 2)} |")
    if len(sat_on):
        lines += ["", "What the false events sat on (nearest simulated object within 3 px, frames t-1..t+1):", "",
                  "| family | " + " | ".join(sat_on.columns) + " |", "|---" * (1 + len(sat_on.columns)) + "|"]
        for family, counts in sat_on.iterrows():
            lines.append(f"| {family} | " + " | ".join(str(int(v)) for v in counts) + " |")
    return "\n".join(lines) + "\n"


def _jobs(args) -> list:
    seeds = seeds_of(args.seed_range, args.n, args.first)
    return [(family, seed) for seed in seeds for family in args.families]


def _init_worker():
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def parse_args(argv=None):
    """The options (see the module); ``--out`` defaults to /work/runs/evalsim/<weights>_<seed_range>."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--n", type=int, default=4, help="movies per family")
    parser.add_argument("--first", type=int, default=0, help="index of the first seed in the range")
    parser.add_argument("--seed_range", choices=["test", "calibration"], default="test")
    parser.add_argument("--weights", default="bundled", help="bundled, official or a weights file")
    parser.add_argument("--min_score", type=float, default=None)
    parser.add_argument("--min_confidence", type=float, default=None,
                        help="detect's --min_confidence (default: detect's default; 0 keeps every event)")
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 128, 128], metavar=("T", "Y", "X"))
    parser.add_argument("--events", type=int, default=20, help="events per movie")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=1, help="movies detected at once (processes)")
    parser.add_argument("--report_only", action="store_true",
                        help="only report the movies already done (e.g. of an interrupted run)")
    args = parser.parse_args(argv)
    if args.out is None:
        label = Path(args.weights).stem if args.weights not in ("bundled", "official") else args.weights
        args.out = Path("/work/runs/evalsim") / f"{label}_{args.seed_range}"
    return args


def main(argv=None):
    """Detect and match every movie (reusing finished ones), then write and print the report."""
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = _jobs(args)
    results = []
    if args.report_only:
        results = [r for r in (finished(family, seed, args) for family, seed in jobs) if r is not None]
        if not results:
            sys.exit(f"error: {args.out}: no movie of these settings is done yet")
    elif args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, initializer=_init_worker) as pool:
            futures = [pool.submit(run_movie, family, seed, args) for family, seed in jobs]
            for future in futures:
                results.append(future.result())
                print(f"{results[-1]['family']} {results[-1]['seed']}: {results[-1]['tp']}/{results[-1]['fp']}/"
                      f"{results[-1]['fn']} ({results[-1]['seconds']} s)", flush=True)
    else:
        for family, seed in jobs:
            results.append(run_movie(family, seed, args))
            print(f"{family} {seed}: {results[-1]['tp']}/{results[-1]['fp']}/{results[-1]['fn']} "
                  f"({results[-1]['seconds']} s)", flush=True)
    table = pd.DataFrame(results).drop(columns=["settings"])
    table.to_csv(args.out / "per_movie.csv", index=False)
    summary = summarize(table, args.out)
    medians, sat_on = feature_table(table, args.out)
    summary.to_csv(args.out / "summary.csv", index=False, float_format="%.4f")
    medians.to_csv(args.out / "features.csv", index=False, float_format="%.4f")
    recall_by = recall_by_kind(table, args.out)
    recall_by.to_csv(args.out / "recall_by_kind.csv", index=False, float_format="%.4f")
    text = report(summary, medians, sat_on, args, recall_by)
    (args.out / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
