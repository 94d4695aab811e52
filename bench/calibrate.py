"""Fit and evaluate the event calibration of a model (issue 28, parts 2 and 4).

Three steps, each reusing what the previous one wrote (detections are made once, fitted many times):

1. ``collect``: detect every event of held-out simulated movies of both generators, keeping all of
   them (``min_confidence 0``), and match them to the truth (``match_events``, 5 voxels):

   - ``--generator evalsim``: the independent simulator ``bench/evalsim`` (every family), through
     ``bench/generalisation.py``'s own ``run_movie`` (its ``candidates.csv`` with ``matched``);
     seeds ``calibration`` (800000-899999) for fitting, ``test`` (900000-999999) for the figures;
   - ``--generator ours``: the package's simulator (``exodeepfinder.simulation``), half movies with
     the default parameters, half domain-randomised (``simulate_randomized``, event rate 8 per 100
     frames and 100 x 100 px); seeds ``calibration`` 20000-20999, ``test`` 21000-21999: disjoint
     from the training recipe's (1000-7999), the evaluation set's (9000-9999) and the robustness
     grid's (10000-19999).

2. ``fit``: on the calibration movies of both generators (each generator weighing the same), fit
   the candidate calibrators (:data:`CALIBRATORS`: temperature scaling of the score; logistic
   regressions on the score, the network probability and one or more measurements that mean the
   same on any movie (none names the generator); an isotonic map of the logistic output), compare
   them by their expected calibration error (ECE, 10 bins) in 5-fold cross-validation by movie
   (mean over 5 draws of the folds) on each generator, and keep the simplest whose worse-of-the-two
   ECE is within 0.005 of the best one's. Then choose ``default_min_confidence``: the threshold
   (0-0.95, step 0.01) that maximises the worse of the two pooled F1s on the calibration movies
   (with ``--max_recall_loss R``: among those that lower neither generator's pooled recall, every
   event kept, by more than R; a missed event is lost to the rates, a false one is reviewed away).
   Writes the calibration JSON with its provenance (data, seeds, counts, cross-validated ECE and
   its noise floor, every calibrator's, the criterion, the precision ``detect`` ran in).

3. ``evaluate``: on the test movies of both generators: ECE and a reliability diagram (PNG) per
   generator, and precision / recall / F1 per family and pooled, with every event kept and with the
   default threshold. Writes ``evaluation.md``, ``evaluation.csv``, ``reliability.png``. Beside each
   ECE: the score's (raw, uncalibrated), and the median ECE a perfectly calibrated confidence would
   show on as many events (outcomes drawn from the confidences themselves): the sampling noise floor.
   ``--baseline OLD.json``: the previous calibration on the same movies too (ECE, noise floor, F1
   at its own default; ``comparison.csv``, its curve in the diagram), to decide whether to adopt.

    PYTHONPATH=$PWD python bench/calibrate.py collect --generator evalsim --seed_range calibration --n 4
    PYTHONPATH=$PWD python bench/calibrate.py collect --generator ours --seed_range calibration --n 24
    PYTHONPATH=$PWD python bench/calibrate.py fit --output new.calibration.json
    PYTHONPATH=$PWD python bench/calibrate.py collect --generator evalsim --seed_range test --n 6
    PYTHONPATH=$PWD python bench/calibrate.py collect --generator ours --seed_range test --n 18
    PYTHONPATH=$PWD python bench/calibrate.py evaluate --output new.calibration.json --baseline OLD.json

(the re-fit of 2026-12-06, not adopted (docs/events.md, "Confidence"): these commands with
``--root /work/runs/calib/v2``, movies 120 x 128 x 128 with 12 events, detect's defaults (precision
``auto``: int8 on the AVX2 CPU), 7-20 s per movie on 2 busy cores. The shipped calibration: ``--n 1``
and ``--n 12`` for the calibration movies, in precision ``fast``, logistic candidates only.)

Folders: ``--root`` (default /work/runs/calib) holds ``<generator>_<seed_range>/<movie>/``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

OURS_SEEDS = {"calibration": 20000, "test": 21000}
OURS_RANGES = {"event_rate": 8.0}
#: Logistic calibrations compared (every feature is measured the same way on any movie: none names
#: the generator).
FEATURE_SETS = [
    ("logit_score",),
    ("logit_score", "probability"),
    *[("logit_score", "probability", extra) for extra in
      ("peak_snr", "peak_dff", "decay_ratio", "cluster_size", "spot_sigma", "duration")],
    ("logit_score", "probability", "peak_snr", "peak_dff", "decay_ratio", "cluster_size"),
]
#: Logistic calibrations followed by an isotonic map of their output.
ISOTONIC_FEATURE_SETS = [("logit_score", "probability")]
#: Draws of the 5 folds by movie whose ECE is averaged.
CV_REPEATS = 5
THRESHOLDS = np.round(np.arange(0, 0.96, 0.01), 2)
GENERATORS = ("evalsim", "ours")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "exodeepfinder" / "model" / "data" / \
    "exodeepfinder_default.calibration.json"


def _folder(root: Path, generator: str, seed_range: str) -> Path:
    return Path(root) / f"{generator}_{seed_range}"


# ---------------------------------------------------------------- collect


def simulate_ours(index: int, seed: int, shape, n_events: int):
    """Movie ``index`` of our simulator: default parameters (even index) or domain-randomised (odd)."""
    from exodeepfinder.simulation import simulate_movie, simulate_randomized

    if index % 2 == 0:
        return "default", simulate_movie(tuple(shape), n_events=n_events, seed=seed)
    return "randomized", simulate_randomized(tuple(shape), seed=seed, ranges=OURS_RANGES)


def collect_ours(args) -> list:
    import exodeepfinder as edf
    from exodeepfinder.events.evaluate import match_events
    from exodeepfinder.io.events import write_events

    out = _folder(args.root, "ours", args.seed_range)
    model = edf.load_model(args.weights, device="cpu")
    results = []
    for index in range(args.first, args.first + args.n):
        seed = OURS_SEEDS[args.seed_range] + index
        family = "default" if index % 2 == 0 else "randomized"
        folder = out / f"{family}_{seed}"
        if (folder / "result.json").is_file():
            results.append(json.loads((folder / "result.json").read_text()))
            continue
        family, sim = simulate_ours(index, seed, args.shape, args.events)
        start = time.perf_counter()
        events = edf.detect(sim.movie, model, min_confidence=0).events
        seconds = time.perf_counter() - start
        matching = match_events(events, sim.events)
        table = events.copy()
        table["matched"] = False
        table.loc[matching.pairs["detected"].to_numpy(), "matched"] = True
        folder.mkdir(parents=True, exist_ok=True)
        write_events(sim.events, folder / "truth.csv", overwrite=True)  # a rerun of the benchmark replaces it
        table.to_csv(folder / "candidates.csv", index=False, float_format="%.6g")
        result = {"family": family, "seed": seed, **matching.summary, "seconds": round(seconds, 1),
                  "shape": list(args.shape), "weights": args.weights}
        (folder / "result.json").write_text(json.dumps(result, indent=1))
        print(f"ours {family} {seed}: {result['tp']}/{result['fp']}/{result['fn']} ({seconds:.1f} s)", flush=True)
        results.append(result)
    return results


def collect_evalsim(args) -> list:
    import generalisation

    options = ["--seed_range", args.seed_range, "--n", str(args.n), "--first", str(args.first),
               "--weights", args.weights, "--min_confidence", "0", "--shape", *map(str, args.shape),
               "--events", str(args.events), "--out", str(_folder(args.root, "evalsim", args.seed_range))]
    gen_args = generalisation.parse_args(options)
    gen_args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for family, seed in generalisation._jobs(gen_args):
        result = generalisation.run_movie(family, seed, gen_args)
        print(f"evalsim {family} {seed}: {result['tp']}/{result['fp']}/{result['fn']} ({result['seconds']} s)",
              flush=True)
        results.append(result)
    return results


# ---------------------------------------------------------------- load


def load_movies(folder: Path) -> list:
    """(family, seed, candidates, truth) of every finished movie of a folder."""
    from exodeepfinder.io.events import read_events

    movies = []
    for result_file in sorted(Path(folder).glob("*/result.json")):
        result = json.loads(result_file.read_text())
        if result.get("settings", {}).get("min_confidence", 0) != 0:
            continue  # a run that dropped events: not every candidate is there
        candidates = pd.read_csv(result_file.parent / "candidates.csv")
        candidates["matched"] = candidates["matched"].astype(bool)
        movies.append((result["family"], int(result["seed"]), candidates, read_events(result_file.parent / "truth.csv")))
    return movies


def pooled_counts(movies, confidences, threshold: float) -> tuple:
    """tp, fp, fn summed over movies, keeping the detections of confidence >= threshold (matched anew)."""
    from exodeepfinder.events.evaluate import match_events

    tp = fp = fn = 0
    for (_, _, candidates, truth), conf in zip(movies, confidences):
        summary = match_events(candidates[conf >= threshold], truth).summary
        tp, fp, fn = tp + summary["tp"], fp + summary["fp"], fn + summary["fn"]
    return tp, fp, fn


def _f1(tp, fp, fn) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)


# ---------------------------------------------------------------- fit


def _shapes(root, generator) -> list:
    """The movie shapes of a generator's calibration movies (from their result.json)."""
    shapes = set()
    for result_file in sorted(_folder(root, generator, "calibration").glob("*/result.json")):
        result = json.loads(result_file.read_text())
        shapes.add(tuple(result.get("shape") or result.get("settings", {}).get("shape", [])))
    return sorted(" x ".join(map(str, shape)) for shape in shapes)


def _stack(movies_by_generator) -> pd.DataFrame:
    frames = []
    for generator, movies in movies_by_generator.items():
        for movie_index, (family, seed, candidates, _) in enumerate(movies):
            frames.append(candidates.assign(generator=generator, family=family, seed=seed, movie=f"{generator}_{seed}"))
    return pd.concat(frames, ignore_index=True)


def _weights(events: pd.DataFrame) -> np.ndarray:
    """Each generator weighs the same in total; the mean weight is 1."""
    counts = events["generator"].map(events["generator"].value_counts())
    weights = 1.0 / counts.to_numpy(float)
    return weights * len(weights) / weights.sum()


class Calibrator:
    """One way to map events to a confidence, fitted on events with ``matched`` (see :data:`CALIBRATORS`).

    ``kind``: ``logistic`` (a logistic regression on ``features``, the package's
    :func:`fit_calibration`), ``isotonic`` (that logistic, then an isotonic map of its output fitted
    on the same events, :func:`with_isotonic`), ``temperature`` (``sigmoid(logit(score) / T)``: one
    parameter, no offset). Each gives a package :class:`Calibration` (``calibration``).
    """

    def __init__(self, kind: str, features=("logit_score",)):
        self.kind, self.features = kind, tuple(features)
        self.name = kind if kind == "temperature" else f"{kind}: {'+'.join(self.features)}"

    def fit(self, events: pd.DataFrame, weights: np.ndarray) -> "Calibrator":
        from scipy.optimize import minimize_scalar

        from exodeepfinder.events.calibrate import Calibration, feature_matrix, fit_calibration, with_isotonic

        outcome = events["matched"].to_numpy(float)
        if self.kind == "temperature":
            logit = feature_matrix(events, ["logit_score"])[:, 0]

            def loss(log_t):
                p = np.clip(1 / (1 + np.exp(-logit / np.exp(log_t))), 1e-9, 1 - 1e-9)
                return -np.sum(weights * (outcome * np.log(p) + (1 - outcome) * np.log(1 - p)))

            temperature = float(np.exp(minimize_scalar(loss, bounds=(-4, 4), method="bounded").x))
            self.calibration = Calibration(["logit_score"], [0.0], [1.0], [1 / temperature], 0.0)
            self.temperature = temperature
            return self
        self.calibration = fit_calibration(events, self.features, sample_weight=weights)
        if self.kind == "isotonic":
            self.calibration = with_isotonic(self.calibration, events, weights)
        return self

    def predict(self, events: pd.DataFrame) -> np.ndarray:
        from exodeepfinder.events.calibrate import confidence

        return confidence(events, self.calibration)


#: Candidate calibrators, simplest first: the simplest whose cross-validated ECE (the worse of the
#: two generators') is within :data:`ECE_MARGIN` of the best one's is chosen.
CALIBRATORS = [Calibrator("temperature")] + [Calibrator("logistic", f) for f in FEATURE_SETS] + \
    [Calibrator("isotonic", f) for f in ISOTONIC_FEATURE_SETS]
ECE_MARGIN = 0.005


def cross_validated(events: pd.DataFrame, calibrator: Calibrator, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Confidences of every event from calibrators fitted without its movie (folds by movie)."""
    movies = events["movie"].unique()
    order = np.random.default_rng(seed).permutation(len(movies))
    fold_of = {movies[i]: k % folds for k, i in enumerate(order)}
    fold = events["movie"].map(fold_of).to_numpy()
    predicted = np.zeros(len(events))
    weights = _weights(events)
    for k in range(folds):
        train, held = fold != k, fold == k
        predicted[held] = calibrator.fit(events[train], weights[train]).predict(events[held])
    return predicted


def noise_floor(probability, repeats: int = 200, seed: int = 0) -> float:
    """The median ECE of a perfectly calibrated ``probability`` on as many events (sampling noise alone)."""
    from exodeepfinder.events.calibrate import expected_calibration_error

    probability = np.asarray(probability, float)
    rng = np.random.default_rng(seed)
    return float(np.median([expected_calibration_error(probability, rng.uniform(size=probability.size) < probability)
                            for _ in range(repeats)]))


def compare_calibrators(events: pd.DataFrame, repeats: int = CV_REPEATS) -> pd.DataFrame:
    """Cross-validated ECE of every calibrator on each generator (mean over ``repeats`` fold draws)."""
    from exodeepfinder.events.calibrate import expected_calibration_error

    rows = []
    for calibrator in CALIBRATORS:
        row = {"calibrator": calibrator.name}
        eces = {g: [] for g in GENERATORS}
        for repeat in range(repeats):
            predicted = cross_validated(events, calibrator, seed=repeat)
            for generator in GENERATORS:
                part = (events["generator"] == generator).to_numpy()
                eces[generator].append(expected_calibration_error(predicted[part], events["matched"][part]))
                if repeat == 0:
                    row[f"floor_{generator}"] = noise_floor(predicted[part])
        for generator in GENERATORS:
            row[f"ece_{generator}"] = float(np.mean(eces[generator]))
            row[f"ece_{generator}_sd"] = float(np.std(eces[generator]))
        row["ece_worse"] = max(row[f"ece_{g}"] for g in GENERATORS)
        rows.append(row)
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
    return pd.DataFrame(rows)


def _precision_used(weights) -> str:
    """What ``precision="auto"`` (detect's default) chooses on this machine for these weights, and why."""
    import exodeepfinder as edf
    from exodeepfinder.inference.backends import resolve_precision

    precision, reason = resolve_precision("auto", "auto", "cpu", edf.load_model(weights, device="cpu"))
    return f"{precision} ({reason})"


def fit(args):
    from exodeepfinder.events.calibrate import file_sha256, write_calibration
    from exodeepfinder.model.weights import resolve_weights

    movies = {g: load_movies(_folder(args.root, g, "calibration")) for g in GENERATORS}
    for generator, found in movies.items():
        if not found:
            sys.exit(f"error: {_folder(args.root, generator, 'calibration')}: no collected movie")
    events = _stack(movies)
    table = compare_calibrators(events)
    best = table["ece_worse"].min()
    chosen_index = int(np.flatnonzero(table["ece_worse"].to_numpy() <= best + ECE_MARGIN)[0])
    calibrator = CALIBRATORS[chosen_index]
    weights_path, _ = resolve_weights(args.weights)
    calibration = calibrator.fit(events, _weights(events)).calibration
    calibration.weights_sha256 = file_sha256(weights_path)
    confidences = {g: [calibrator.predict(m[2]) for m in movies[g]] for g in GENERATORS}
    sweep = []
    for threshold in THRESHOLDS:
        row = {"threshold": threshold}
        for generator in GENERATORS:
            tp, fp, fn = pooled_counts(movies[generator], confidences[generator], threshold)
            row.update({f"f1_{generator}": _f1(tp, fp, fn), f"tp_{generator}": tp, f"fp_{generator}": fp,
                        f"fn_{generator}": fn})
        row["f1_worse"] = min(row[f"f1_{g}"] for g in GENERATORS)
        sweep.append(row)
    sweep = pd.DataFrame(sweep)
    for generator in GENERATORS:
        sweep[f"recall_{generator}"] = sweep[f"tp_{generator}"] / (sweep[f"tp_{generator}"] + sweep[f"fn_{generator}"])
    # A missed event is lost to the biologist's rates; a false one is reviewed away: the threshold may
    # cost each generator at most max_recall_loss of the recall found with every event kept.
    max_loss = np.inf if args.max_recall_loss is None else args.max_recall_loss
    keeps_recall = np.logical_and.reduce([
        sweep[f"recall_{g}"] >= sweep.loc[0, f"recall_{g}"] - max_loss - 1e-12 for g in GENERATORS])
    chosen = sweep.loc[sweep["f1_worse"].where(keeps_recall).idxmax()]
    calibration.default_min_confidence = float(chosen["threshold"])
    cv = table.loc[chosen_index]
    calibration.provenance = {
        "fitted": time.strftime("%Y-%m-%d"),
        "script": "bench/calibrate.py fit",
        "weights": str(args.weights),
        "detect": f"defaults, --min_confidence 0; precision auto -> {_precision_used(args.weights)}",
        "data": {g: {"generator": "bench/evalsim (independent simulator)" if g == "evalsim" else
                     "exodeepfinder.simulation (half default parameters, half simulate_randomized)",
                     "seeds": sorted({int(m[1]) for m in movies[g]}), "movies": len(movies[g]),
                     "movie_names": [f"{m[0]}_{m[1]}" for m in movies[g]],
                     "shape": _shapes(args.root, g),
                     "families": sorted({m[0] for m in movies[g]}),
                     "events_detected": int(sum(len(m[2]) for m in movies[g])),
                     "true_detected": int(sum(m[2]["matched"].sum() for m in movies[g])),
                     "true_events": int(sum(len(m[3]) for m in movies[g]))} for g in GENERATORS},
        "weighting": "each generator weighs the same",
        "calibrator": calibrator.name,
        "ece_cross_validated": {g: round(float(cv[f"ece_{g}"]), 4) for g in GENERATORS},
        "ece_noise_floor": {g: round(float(cv[f"floor_{g}"]), 4) for g in GENERATORS},
        "ece_bins": 10,
        "cross_validation": f"5 folds by movie, mean over {CV_REPEATS} fold draws",
        "calibrators_compared": {r["calibrator"]: round(float(r["ece_worse"]), 4) for r in table.to_dict("records")},
        "choice": f"the simplest calibrator whose worse-of-the-two cross-validated ECE is within {ECE_MARGIN} "
                  "of the best",
        "criterion": "default_min_confidence maximises the worse of the two pooled F1s on the calibration movies"
                     + ("" if args.max_recall_loss is None else
                        f" among the thresholds that lose at most {args.max_recall_loss:g} of either generator's "
                        "recall (every event kept)"),
        "unconstrained_threshold": float(sweep.loc[sweep["f1_worse"].idxmax(), "threshold"]),
        "f1_at_default": {g: round(float(chosen[f"f1_{g}"]), 4) for g in GENERATORS},
        "f1_keep_all": {g: round(float(sweep.loc[0, f"f1_{g}"]), 4) for g in GENERATORS},
    }
    out = Path(args.output)
    write_calibration(calibration, out)
    table.to_csv(_folder(args.root, "fit", "calibration").with_suffix(".calibrators.csv"), index=False,
                 float_format="%.4f")
    sweep.to_csv(_folder(args.root, "fit", "calibration").with_suffix(".thresholds.csv"), index=False,
                 float_format="%.4f")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(sweep.iloc[::5].to_string(index=False))
    print(f"{calibrator.name}, default_min_confidence {calibration.default_min_confidence:g}: "
          f"F1 {chosen['f1_evalsim']:.3f} (evalsim) / {chosen['f1_ours']:.3f} (ours) -> {out}")


# ---------------------------------------------------------------- evaluate


def evaluate(args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from exodeepfinder.events.calibrate import (confidence, expected_calibration_error, read_calibration,
                                                reliability_table)
    from exodeepfinder.events.evaluate import summarize

    calibration = read_calibration(args.output)
    baseline = read_calibration(args.baseline) if args.baseline else None
    threshold = calibration.default_min_confidence
    out = Path(args.root)
    rows, comparison = [], []
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for axis, generator in zip(axes, GENERATORS):
        movies = load_movies(_folder(args.root, generator, "test"))
        if not movies:
            print(f"{_folder(args.root, generator, 'test')}: no test movie, skipped")
            axis.set_visible(False)
            continue
        conf = [confidence(m[2], calibration) for m in movies]
        allconf = np.concatenate(conf)
        outcome = np.concatenate([m[2]["matched"].to_numpy(float) for m in movies])
        score = np.concatenate([m[2]["score"].to_numpy(float) for m in movies])
        ece, ece_score = expected_calibration_error(allconf, outcome), expected_calibration_error(score, outcome)
        floor = noise_floor(allconf)  # what a perfectly calibrated confidence would show on this many events
        table = reliability_table(allconf, outcome)
        score_table = reliability_table(score, outcome)
        axis.plot([0, 1], [0, 1], color="0.6", lw=1, ls="--")
        axis.plot(score_table["mean_probability"], score_table["fraction_true"], "s-", color="tab:gray",
                  label=f"score (ECE {ece_score:.3f})")
        if baseline is not None:
            base_conf = [confidence(m[2], baseline) for m in movies]
            base_all = np.concatenate(base_conf)
            base_table = reliability_table(base_all, outcome)
            base_ece = expected_calibration_error(base_all, outcome)
            axis.plot(base_table["mean_probability"], base_table["fraction_true"], "^-", color="tab:orange",
                      alpha=0.8, label=f"{args.baseline_label} (ECE {base_ece:.3f})")
            comparison.append({"generator": generator, "movies": len(movies), "detections": len(base_all),
                               "calibration": args.baseline_label, "ece": base_ece,
                               "ece_noise_floor": noise_floor(base_all),
                               "threshold": baseline.default_min_confidence,
                               **summarize(*pooled_counts(movies, base_conf, baseline.default_min_confidence))})
            comparison.append({"generator": generator, "movies": len(movies), "detections": len(allconf),
                               "calibration": args.label, "ece": ece, "ece_noise_floor": floor, "threshold": threshold,
                               **summarize(*pooled_counts(movies, conf, threshold))})
        axis.plot(table["mean_probability"], table["fraction_true"], "o-", color="tab:blue",
                  label=f"{args.label} (ECE {ece:.3f})")
        for row in table.itertuples():
            if row.n:
                axis.annotate(str(row.n), (row.mean_probability, row.fraction_true), textcoords="offset points",
                              xytext=(0, 6), ha="center", fontsize=7, color="tab:blue")
        axis.set(xlabel="predicted probability that the event is real", ylabel="fraction of true events",
                 title=f"{generator}: {len(movies)} test movies, {len(allconf)} detections", xlim=(0, 1), ylim=(0, 1))
        axis.legend(loc="upper left", fontsize=8)
        families = sorted({m[0] for m in movies}) + ["pooled"]
        for family in families:
            chosen = [i for i, m in enumerate(movies) if family == "pooled" or m[0] == family]
            part = [movies[i] for i in chosen]
            part_conf = [conf[i] for i in chosen]
            before = summarize(*pooled_counts(part, part_conf, 0.0))
            after = summarize(*pooled_counts(part, part_conf, threshold))
            rows.append({"generator": generator, "family": family, "movies": len(part),
                         **{f"{k}_all": before[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
                         **{f"{k}_default": after[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")},
                         "ece": ece if family == "pooled" else np.nan,
                         "ece_score": ece_score if family == "pooled" else np.nan,
                         "ece_noise_floor": floor if family == "pooled" else np.nan})
    figure.suptitle(f"Reliability on held-out test movies (bins of 0.1); {args.label}: default min_confidence "
                    f"{threshold:g}")
    figure.tight_layout()
    figure.savefig(out / "reliability.png", dpi=110)
    results = pd.DataFrame(rows)
    results.to_csv(out / "evaluation.csv", index=False, float_format="%.4f")
    lines = [f"# Calibration of `{args.weights}` on test movies", "",
             f"{time.strftime('%Y-%m-%d')}; calibration {args.output} (features "
             f"{', '.join(calibration.features)}, default min_confidence {threshold:g}).", "",
             "| generator | family | movies | all events: found / false / missed | P | R | F1 | "
             f"confidence >= {threshold:g}: found / false / missed | P | R | F1 | ECE (score's; perfect's) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results.itertuples():
        ece = "" if np.isnan(r.ece) else f"{r.ece:.3f} ({r.ece_score:.3f}; {r.ece_noise_floor:.3f})"
        lines.append(f"| {r.generator} | {r.family} | {r.movies} | {r.tp_all} / {r.fp_all} / {r.fn_all} | "
                     f"{r.precision_all:.3f} | {r.recall_all:.3f} | {r.f1_all:.3f} | {r.tp_default} / "
                     f"{r.fp_default} / {r.fn_default} | {r.precision_default:.3f} | {r.recall_default:.3f} | "
                     f"{r.f1_default:.3f} | {ece} |")
    if comparison:
        compared = pd.DataFrame(comparison)
        compared.to_csv(out / "comparison.csv", index=False, float_format="%.4f")
        lines += ["", f"Against the {args.baseline_label} ({args.baseline}), same test movies, each at its own "
                  "default threshold:", "",
                  "| generator | calibration | movies | detections | ECE (perfect's) | min_confidence | "
                  "found / false / missed | P | R | F1 |", "|---|---|---|---|---|---|---|---|---|---|"]
        for r in compared.itertuples():
            lines.append(f"| {r.generator} | {r.calibration} | {r.movies} | {r.detections} | {r.ece:.3f} "
                         f"({r.ece_noise_floor:.3f}) | {r.threshold:g} | {r.tp} / {r.fp} / {r.fn} | "
                         f"{r.precision:.3f} | {r.recall:.3f} | {r.f1:.3f} |")
    text = "\n".join(lines) + "\n"
    (out / "evaluation.md").write_text(text)
    print(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("step", choices=["collect", "fit", "evaluate"])
    parser.add_argument("--generator", choices=GENERATORS, default="evalsim")
    parser.add_argument("--seed_range", choices=["calibration", "test"], default="calibration")
    parser.add_argument("--n", type=int, default=1, help="collect: movies (per family for evalsim)")
    parser.add_argument("--first", type=int, default=0, help="collect: index of the first seed")
    parser.add_argument("--shape", type=int, nargs=3, default=[120, 128, 128], metavar=("T", "Y", "X"))
    parser.add_argument("--events", type=int, default=12, help="events per movie")
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--max_recall_loss", type=float, default=None,
                        help="fit: the default threshold may lower either generator's pooled recall (every "
                             "event kept) by at most this much on the calibration movies (default: no limit)")
    parser.add_argument("--root", type=Path, default=Path("/work/runs/calib"))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="the calibration JSON")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="evaluate: a previous calibration JSON to compare on the same test movies")
    parser.add_argument("--label", default="confidence", help="evaluate: the name of --output in the figure")
    parser.add_argument("--baseline_label", default="previous calibration",
                        help="evaluate: the name of --baseline in the figure and the table")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.step == "collect":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        (collect_evalsim if args.generator == "evalsim" else collect_ours)(args)
    elif args.step == "fit":
        fit(args)
    else:
        evaluate(args)


if __name__ == "__main__":
    main()
