"""A default candidate classifier fitted on our simulator only (issue 28): fit it, measure it on held-out movies.

The machinery of ``exodeepfinder adapt`` (issue 27) used as a *default* screen of the bundled
model's detections: movies of the package's simulator (default parameters, domain-randomised,
and the opt-in distractor groups ``distractors`` and ``bumps`` of scripts/train_default_model.py,
whose low-contrast transient bumps are labelled background) are segmented once with the bundled
model; their candidates (event probability >= 0.25) are labelled by the simulated truth, as a
complete annotation (``adapt``'s code path: :func:`exodeepfinder.adapt.corrections.describe`),
and the L2 logistic regression of :mod:`exodeepfinder.events.classify` is fitted on them
(:func:`exodeepfinder.adapt.core.classifier_stage`, which also gives its leave-one-movie-out F1).
The result is a model folder: the bundled weights + ``classifier.json`` + ``model_card.json``.

    # 1. fit (writes OUT/model, OUT/fit/<movie>/{candidates,base,truth}.csv, OUT/fit.json)
    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python scripts/fit_default_classifier.py fit \
        [--n 4] [--shape 100 128 128] [--threshold 0.5] [--out /work/runs/screen]
    # 2. held-out movies of our simulator: bundled defaults against the folder (same network output)
    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python scripts/fit_default_classifier.py heldout \
        [--n 6] [--out /work/runs/screen]
    # 3. the evaluation simulator (bench/evalsim, test seeds, every family), segmented once for both:
    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python scripts/fit_default_classifier.py evalsim [--n 2]
    # or with detect itself, twice (the same movies):
    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python bench/generalisation.py --n 2 \
        --shape 100 128 128 --events 12 --out /work/runs/screen/evalsim_bundled
    PYTHONPATH=$PWD flock /work/cpu.lock .venv/bin/python bench/generalisation.py --n 2 \
        --shape 100 128 128 --events 12 --weights /work/runs/screen/model --out /work/runs/screen/evalsim_model

Seeds: training movies 820000+, held-out movies 830000+ (never those of the bundled model's
training set, 1000-8999). ``fit`` caches each movie's tables, so ``refit`` changes the penalty or
threshold without segmenting again (it replaces OUT/model), and ``evalsim`` and ``heldout``
reuse their movies' tables too (rerun them after ``refit``: seconds).
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

FIT_SEED = 820000
HELDOUT_SEED = 830000
#: Kinds of training movies: name -> ranges of simulate_randomized (None: the default simulation).
KINDS = ("default", "randomized", "distractors", "bumps")
#: Confidence thresholds whose leave-one-movie-out F1 ``fit`` reports (the choice stays ``--threshold``).
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def simulate_kind(kind: str, seed: int, shape, n_events: int):
    """(movie, true events) of one movie of our simulator of a kind of :data:`KINDS`."""
    import exodeepfinder as edf
    from exodeepfinder.simulation.randomize import simulate_randomized

    if kind == "default":
        sim = edf.simulate(tuple(shape), n_events=n_events, seed=seed)
    else:
        ranges = None
        if kind in ("distractors", "bumps"):
            from scripts.train_default_model import EXTRA_GROUPS

            ranges = EXTRA_GROUPS[kind]["ranges"]
        sim = simulate_randomized(tuple(shape), seed=seed, ranges=ranges)
    return sim.movie, sim.events[["t", "y", "x", "class_label"]].reset_index(drop=True)


def describe_movies(kinds, n, first_seed, shape, n_events, model, folder: Path, log):
    """Segment each movie once; write and return (name, base, candidates with ``verdict``, truth) per movie."""
    tables = []
    for k, kind in enumerate(kinds):
        for i in range(n):
            seed = first_seed + 1000 * k + i
            name = f"{kind}_{seed}"
            movie_dir = folder / name
            if (movie_dir / "candidates.csv").is_file():
                tables.append(read_movie(movie_dir))
                continue
            started = time.monotonic()
            movie, truth = simulate_kind(kind, seed, shape, n_events)
            d = describe_movie(movie_dir, movie, truth, model)
            tables.append(read_movie(movie_dir))
            log(f"{name}: {len(truth)} true events, {len(d.base)} detected, {len(d.candidates)} candidates "
                f"({int((d.verdict == 1).sum())} real) ({time.monotonic() - started:.0f} s)")
    return tables


def describe_movie(movie_dir: Path, movie, truth, model):
    """Segment one movie, label its candidates from the truth (adapt's code path), cache the tables in ``movie_dir``."""
    from exodeepfinder.adapt import ReviewedMovie
    from exodeepfinder.adapt.corrections import describe
    from exodeepfinder.events.classify import DEFAULT_CANDIDATE_THRESHOLD

    d = describe(ReviewedMovie(movie_dir.name, movie, truth), model, DEFAULT_CANDIDATE_THRESHOLD, None,
                 keep_network=False)
    movie_dir.mkdir(parents=True, exist_ok=True)
    d.base.to_csv(movie_dir / "base.csv", index=False)
    d.candidates.assign(verdict=d.verdict).to_csv(movie_dir / "candidates.csv", index=False)
    truth.to_csv(movie_dir / "truth.csv", index=False)
    return d


def read_movie(movie_dir: Path) -> dict:
    return {"name": movie_dir.name, "base": pd.read_csv(movie_dir / "base.csv"),
            "candidates": pd.read_csv(movie_dir / "candidates.csv"), "truth": pd.read_csv(movie_dir / "truth.csv")}


def pooled(tables, truths) -> dict:
    from exodeepfinder.events.evaluate import match_events, summarize

    total = np.zeros(3, np.int64)
    for table, truth in zip(tables, truths):
        s = match_events(table.reset_index(drop=True), truth.reset_index(drop=True)).summary
        total += [s["tp"], s["fp"], s["fn"]]
    return {k: (round(float(v), 4) if isinstance(v, float) else int(v)) for k, v in summarize(*total).items()}


def comparison_rows(group: str, tables, classifier) -> list[dict]:
    """Pooled figures of the bundled defaults and of the classifier on the same candidates of ``tables``."""
    truths = [t["truth"] for t in tables]
    kept = [classifier.classify(t["candidates"].drop(columns="verdict")) for t in tables]
    return [{"family": group, "movies": len(tables), "model": label, **pooled(detections, truths)}
            for label, detections in (("bundled defaults", [t["base"] for t in tables]), ("+ classifier", kept))]


def fit_from_tables(tables, penalty: float, threshold: float):
    """The classifier fitted on every movie, and its leave-one-movie-out pooled figures against the base detections."""
    from exodeepfinder.events.classify import DEFAULT_CANDIDATE_THRESHOLD, fit_classifier

    def fit(parts):
        rows = pd.concat([t["candidates"] for t in parts], ignore_index=True)
        known = rows["verdict"].to_numpy() >= 0
        return fit_classifier(rows[known].drop(columns="verdict"), rows["verdict"].to_numpy()[known] == 1,
                              penalty=penalty, threshold=threshold, candidate_threshold=DEFAULT_CANDIDATE_THRESHOLD)

    folds = [fit([t for j, t in enumerate(tables) if j != i]) for i in range(len(tables))]
    truths = [t["truth"] for t in tables]

    def kept_at(value):
        return [classifier.classify(t["candidates"].drop(columns="verdict"), value)
                for classifier, t in zip(folds, tables)]

    held_out = {"split": "leave one movie out", "base": pooled([t["base"] for t in tables], truths),
                "classifier": pooled(kept_at(threshold), truths),
                "f1_by_threshold": {f"{value:g}": pooled(kept_at(value), truths)["f1"] for value in THRESHOLDS}}
    return fit(tables), held_out


def command_fit(args, log) -> None:
    import exodeepfinder as edf
    from exodeepfinder.adapt.core import AdaptedModel
    from exodeepfinder.model.folder import sha256_of

    model = edf.load_model("bundled", device="cpu")
    tables = describe_movies(KINDS, args.n, FIT_SEED, args.shape, args.events, model, args.out / "fit", log)
    started = time.monotonic()
    classifier, held_out = fit_from_tables(tables, args.penalty, args.threshold)
    log(f"leave one movie out, pooled over {len(tables)} movies: base {held_out['base']} -> "
        f"classifier {held_out['classifier']}")
    weights = model.weights_path
    card = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "purpose": "default candidate classifier fitted on the package's simulator only (issue 28)",
            "base_weights": {"file": str(weights), "sha256": sha256_of(weights),
                             "source": getattr(model, "weights_source", "")},
            "movies": [{"name": t["name"], "shape": list(args.shape),
                        "candidates": {"real": int((t["candidates"]["verdict"] == 1).sum()),
                                       "false": int((t["candidates"]["verdict"] == 0).sum())}} for t in tables],
            "candidate_threshold": classifier.candidate_threshold, "penalty": args.penalty,
            "held_out": held_out,
            "stages": {"candidate_classifier": {"decision": "kept (fitted on simulated truth)", "kept": True,
                                                "seconds": round(time.monotonic() - started, 1)}},
            "command": " ".join(sys.argv)}
    path = AdaptedModel(classifier, None, weights, card).save(args.out / "model", overwrite=True)
    (args.out / "fit.json").write_text(json.dumps(held_out, indent=1))
    log(f"wrote {path}")


def command_heldout(args, log) -> None:
    import exodeepfinder as edf

    classifier = edf.load_model(str(args.out / "model"), device="cpu").classifier
    model = edf.load_model("bundled", device="cpu")
    rows = []
    tables_all = describe_movies(("default", "randomized"), args.n, HELDOUT_SEED, args.shape, args.events, model,
                                 args.out / "heldout", log)
    for kind in ("default", "randomized"):
        rows += comparison_rows(kind, [t for t in tables_all if t["name"].startswith(kind)], classifier)
    results = pd.DataFrame(rows)
    results.to_csv(args.out / "heldout.csv", index=False)
    log(results.to_string(index=False))


def command_evalsim(args, log) -> None:
    """Movies of bench/evalsim (test seeds, every family), segmented once: bundled defaults against the folder."""
    import exodeepfinder as edf
    from bench.evalsim import FAMILIES, seeds_of, simulate

    classifier = edf.load_model(str(args.out / "model"), device="cpu").classifier
    model = edf.load_model("bundled", device="cpu")
    folder = args.out / "evalsim"
    tables = []
    for seed in seeds_of("test", args.n):
        for family in FAMILIES:
            movie_dir = folder / f"{family}_{seed}"
            if not (movie_dir / "candidates.csv").is_file():
                started = time.monotonic()
                sim = simulate(family, seed, shape=tuple(args.shape), n_events=args.events)
                truth = sim.events[["t", "y", "x", "class_label"]].reset_index(drop=True)
                d = describe_movie(movie_dir, sim.movie, truth, model)
                log(f"{movie_dir.name}: {len(truth)} true, {len(d.base)} detected ({time.monotonic() - started:.0f} s)")
            tables.append({**read_movie(movie_dir), "family": family})
    rows = []
    for family in [*FAMILIES, "pooled"]:
        rows += comparison_rows(family, [t for t in tables if family in (t["family"], "pooled")], classifier)
    results = pd.DataFrame(rows)
    results.to_csv(args.out / "evalsim.csv", index=False)
    log(results.to_string(index=False))


def command_refit(args, log) -> None:
    """Refit from the cached tables of ``fit`` (another penalty or threshold) and rewrite the model folder."""
    command_fit(args, log)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fit", "heldout", "evalsim", "refit"])
    parser.add_argument("--n", type=int, default=None, help="movies per kind (fit: 4, heldout: 6)")
    parser.add_argument("--shape", type=int, nargs=3, default=[100, 128, 128])
    parser.add_argument("--events", type=int, default=12, help="events of a default-simulation movie")
    parser.add_argument("--penalty", type=float, default=1.0)
    parser.add_argument("--threshold", type=float, default=0.5, help="confidence from which an event is kept")
    parser.add_argument("--out", type=Path, default=Path("/work/runs/screen"))
    args = parser.parse_args(argv)
    args.n = args.n or {"heldout": 6, "evalsim": 2}.get(args.command, 4)
    args.out.mkdir(parents=True, exist_ok=True)

    def log(line):
        print(line, flush=True)

    {"fit": command_fit, "refit": command_refit, "heldout": command_heldout, "evalsim": command_evalsim}[args.command](args, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
