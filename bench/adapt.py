"""Does adapting on 1 or 2 corrected movies help on the other movies of the same kind? (issue 27)

Protocol, per family of movies: simulate 6 movies; detect on all of them with the base model
(bundled weights, ``detect`` defaults); correct the first 1, then the first 2, from the truth, as a
careful user would in the Review widget (accept the detections that match a true event, reject
the others, add the missed events); ``adapt`` on them (the library call that ``exodeepfinder
adapt`` makes, timed, its own network passes included); detect the 4 other movies with the model
folder and pool their counts: F1 before (base) and after, and the minutes ``adapt`` took.

Families: movies of the independent evaluation simulator (bench/evalsim: the project never
trains on them) where the bundled model is weak (crowded vesicles, dim events, fast events...),
and movies of the package's own simulator at its defaults, where the bundled model is good.

The test movies are detected once with the base model; the model folder's classifier is then
applied to their candidates (what ``detect -mw MODEL_DIR`` computes from the same network
output). When fine-tuning is kept, the test movies are detected again with the fine-tuned U-Net.
The timing (``adapt (min)``) is adapt's own wall clock, its network passes included; the test
movies' detection is not in it.

    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python bench/adapt.py \
        [--families crowded dim ours] [--n 6] [--shape 100 128 128] [--events 12] \
        [--max_minutes 0] [--candidate_threshold 0.25] [--out /work/runs/adapt/bench]

Writes ``results.csv`` (one row per family and number of corrected movies), ``report.md`` (the
table, the machine), ``adapt_bench.png`` (F1 against corrected movies and against minutes) and
``movies/`` (each movie's true events, base detections and candidates with their features).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Seeds of the bench's movies (the calibration range of bench/evalsim: never reported as its test figures).
FIRST_SEED = 810000


def simulate_family(family: str, seed: int, shape, n_events: int):
    """(movie, true events) of one movie: ``ours`` is the package's simulator, any other name an evalsim family."""
    if family == "ours":
        import exodeepfinder as edf

        sim = edf.simulate(tuple(shape), n_events=n_events, seed=seed)
        return sim.movie, sim.events[["t", "y", "x", "class_label"]]
    from bench.evalsim import simulate

    sim = simulate(family, seed, shape=tuple(shape), n_events=n_events)
    return sim.movie, sim.events[["t", "y", "x", "class_label"]]


def careful_review(base: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """The corrections a careful user makes: detections accepted or rejected by the truth, missed events added."""
    from exodeepfinder.events.evaluate import match_events

    matching = match_events(base.reset_index(drop=True), truth.reset_index(drop=True))
    reviewed = base[["t", "y", "x", "class_label"]].reset_index(drop=True).copy()
    reviewed["review"] = "rejected"
    reviewed.loc[matching.pairs["detected"].to_numpy(), "review"] = "accepted"
    added = truth.reset_index(drop=True).loc[matching.false_negatives, ["t", "y", "x", "class_label"]].copy()
    added["review"] = "added"
    return pd.concat([reviewed, added], ignore_index=True)


def pooled(tables, truths) -> dict:
    from exodeepfinder.events.evaluate import match_events, summarize

    total = np.zeros(3, np.int64)
    for table, truth in zip(tables, truths):
        s = match_events(table.reset_index(drop=True), truth.reset_index(drop=True)).summary
        total += [s["tp"], s["fp"], s["fn"]]
    return summarize(*total)


def run_family(family: str, args, model, log) -> list[dict]:
    from exodeepfinder.adapt import ReviewedMovie, adapt
    from exodeepfinder.adapt.corrections import describe as _describe
    from exodeepfinder.events.classify import DEFAULT_CANDIDATE_THRESHOLD

    threshold = DEFAULT_CANDIDATE_THRESHOLD if args.candidate_threshold is None else args.candidate_threshold
    seeds = [FIRST_SEED + i for i in range(args.n)]
    movies, truths, described = [], [], []
    for seed in seeds:
        movie, truth = simulate_family(family, seed, args.shape, args.events)
        movies.append(movie)
        truths.append(truth)
        started = time.monotonic()
        described.append(_describe(ReviewedMovie(f"{family}_{seed}", movie, truth), model,
                                   threshold, None, keep_network=False))
        tables = args.out / "movies"
        tables.mkdir(exist_ok=True)
        for name, table in (("truth", truth), ("base", described[-1].base), ("candidates", described[-1].candidates)):
            table.to_csv(tables / f"{family}_{seed}_{name}.csv", index=False)
        log(f"{family} {seed}: {len(truth)} true events, {len(described[-1].base)} detected, "
            f"{len(described[-1].candidates)} candidates ({time.monotonic() - started:.1f} s)")
    n_corrected_max = max(args.corrected)
    test = list(range(n_corrected_max, args.n))
    base = pooled([described[i].base for i in test], [truths[i] for i in test])
    rows = [{"family": family, "max_minutes": args.max_minutes, "corrected_movies": 0, "corrections": 0,
             "adapt_minutes": 0.0, "cpu_minutes": 0.0,
             "classifier_kept": False, **{f"{k}": base[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}}]
    log(f"{family}: base pooled F1 on movies {test}: {base['f1']:.3f}")
    for k in args.corrected:
        reviewed = [ReviewedMovie(f"{family}_{seeds[i]}", movies[i], careful_review(described[i].base, truths[i]))
                    for i in range(k)]
        wall, cpu = time.monotonic(), time.process_time()
        adapted = adapt(reviewed, args.weights, max_minutes=args.max_minutes, fine_tune=args.max_minutes > 0,
                        candidate_threshold=threshold)
        wall, cpu = (time.monotonic() - wall) / 60, (time.process_time() - cpu) / 60
        log(adapted.summary())
        if adapted.network is not None:  # the fine-tuned U-Net: detect the test movies with it (detect's defaults)
            import exodeepfinder as edf

            kept = [edf.detect(movies[i], adapted.network).events for i in test]
        elif adapted.classifier is not None:
            kept = [adapted.classifier.classify(described[i].candidates) for i in test]
        else:
            kept = [described[i].base for i in test]
        after = pooled(kept, [truths[i] for i in test])
        held = adapted.card["held_out"]
        rows.append({"family": family, "max_minutes": args.max_minutes, "corrected_movies": k,
                     "corrections": int(sum(len(r.corrections) for r in reviewed)),
                     "adapt_minutes": round(wall, 3), "cpu_minutes": round(cpu, 3),
                     "classifier_kept": adapted.classifier is not None,
                     **{f"{key}": after[key] for key in ("tp", "fp", "fn", "precision", "recall", "f1")},
                     "fine_tuned_kept": adapted.network is not None,
                     "held_out_base_f1": held["base"]["f1"], "held_out_classifier_f1": held["classifier"]["f1"]})
        log(f"{family}: {k} corrected movie(s): pooled F1 {base['f1']:.3f} -> {after['f1']:.3f} "
            f"(adapt {wall:.2f} min; held-out {held['base']['f1']:.3f} -> {held['classifier']['f1']:.3f})")
    return rows


def write_report(results: pd.DataFrame, args, out: Path) -> None:
    lines = ["# Adapting on corrected movies (bench/adapt.py)", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s) seen, shared; "
             f"date {time.strftime('%Y-%m-%d')}. Movies {' x '.join(map(str, args.shape))}, "
             f"{args.events} events asked per movie, {args.n} movies per family (seeds {FIRST_SEED}+), the first "
             f"1 or 2 corrected from the truth, pooled F1 on movies {max(args.corrected) + 1}-{args.n}. "
             f"Base: {args.weights} weights, detect defaults{getattr(args, 'calibration_note', '')}. "
             f"Candidate threshold: {args.candidate_threshold or 'adapt default'}. "
             f"Fine-tuning budget: {args.max_minutes} min.", "",
             "| family | fine-tuning budget (min) | corrected movies | corrections | found / false / missed | "
             "precision | recall | F1 | adapt (min) | kept |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in results.itertuples():
        kept = [name for name, flag in (("classifier", getattr(row, "classifier_kept", False)),
                                        ("fine-tuned U-Net", getattr(row, "fine_tuned_kept", False)))
                if flag is True or flag == "True"]
        kept = "-" if row.corrected_movies == 0 else (", ".join(kept) or "none (base)")
        budget = getattr(row, "max_minutes", 0)
        lines.append(f"| {row.family} | {budget:g} | {row.corrected_movies} | {row.corrections} "
                     f"| {row.tp} / {row.fp} / {row.fn} | {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} | "
                     f"{row.adapt_minutes:.2f} | {kept} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")


def plot(results: pd.DataFrame, path: Path) -> None:
    """F1 against corrected movies and against adapt's minutes; dashed: with fine-tuning."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 3.8), layout="constrained")
    by_count, by_time = figure.subplots(1, 2)
    colors = {}
    if "max_minutes" not in results.columns:
        results = results.assign(max_minutes=0.0)
    for (family, budget), rows in results.groupby(["family", "max_minutes"], sort=False):
        rows = rows.sort_values("corrected_movies")
        style = "o-" if budget == 0 else "s--"
        label = family if budget == 0 else f"{family}, fine-tuning {budget:g} min"
        line, = by_count.plot(rows["corrected_movies"], rows["f1"], style, label=label, color=colors.get(family))
        colors.setdefault(family, line.get_color())
        by_time.plot(rows["adapt_minutes"], rows["f1"], style, color=colors[family], label=label)
    by_count.set(xlabel="corrected movies", ylabel="pooled F1 on the other movies", ylim=(0, 1.02), xticks=[0, 1, 2])
    by_time.set(xlabel="adapt time (minutes, 2-core CPU)", ylabel="pooled F1 on the other movies", ylim=(0, 1.02))
    for axes in (by_count, by_time):
        axes.grid(alpha=0.3)
    by_count.legend(loc="lower right")
    figure.savefig(path, dpi=110)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=["crowded", "dim", "ours"])
    parser.add_argument("--n", type=int, default=6, help="movies per family")
    parser.add_argument("--corrected", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shape", type=int, nargs=3, default=[100, 128, 128])
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--weights", default="bundled")
    parser.add_argument("--max_minutes", type=float, default=0.0, help="fine-tuning budget (0: classifier only)")
    parser.add_argument("--candidate_threshold", type=float, default=None,
                        help="event probability of the candidates (default: adapt's)")
    parser.add_argument("--out", type=Path, default=Path("/work/runs/adapt/bench"))
    parser.add_argument("--combine", type=Path, nargs="+", default=None, metavar="DIR",
                        help="only merge the results.csv of earlier runs into --out (table and plot)")
    args = parser.parse_args(argv)
    if args.combine:
        args.out.mkdir(parents=True, exist_ok=True)
        results = pd.concat([pd.read_csv(folder / "results.csv") for folder in args.combine], ignore_index=True)
        if "max_minutes" not in results.columns:
            results["max_minutes"] = 0.0
        results["max_minutes"] = results["max_minutes"].fillna(0.0)
        results.to_csv(args.out / "results.csv", index=False)
        write_report(results, args, args.out)
        plot(results, args.out / "adapt_bench.png")
        print((args.out / "report.md").read_text())
        return 0
    import exodeepfinder as edf

    args.out.mkdir(parents=True, exist_ok=True)
    model = edf.load_model(args.weights, device="cpu")
    from exodeepfinder.events.calibrate import calibration_for_model

    calibration = calibration_for_model(model)
    args.calibration_note = (" (no calibration)" if calibration is None else
                             f" (its calibration: events of confidence < {calibration.default_min_confidence:g} dropped)")

    def log(line):
        print(line, flush=True)

    rows = []
    for family in args.families:
        rows += run_family(family, args, model, log)
        results = pd.DataFrame(rows)
        results.to_csv(args.out / "results.csv", index=False)
        write_report(results, args, args.out)
        plot(results, args.out / "adapt_bench.png")
    (args.out / "settings.json").write_text(json.dumps({k: str(v) for k, v in vars(args).items()}, indent=1))
    print((args.out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
