"""Training from random weights on simulated movies: event F1 on held-out movies against training steps.

Usage::

    python bench/train_from_scratch.py --work /tmp/scratch                      # both recipes, 25 min each
    python bench/train_from_scratch.py --work /tmp/scratch --minutes 5 --losses dice_ce --every 100

1. A training set made by the chain a user runs (library functions of the commands): movies
   simulated by ``simulate_movie`` (``--shape``, default 200 x 128 x 128, default parameters),
   ``detect_spots`` (the built-in Atlas detector), ``events_to_labels`` (the expert mask of the
   simulated events), ``merge_detector_expert`` and ``structure_training_dataset``
   (``--split`` % for training). Held-out movies are simulated with other seeds.
2. For each recipe (``--losses``: the default ``dice_ce`` and the reference ``tversky``), from
   random weights: ``exodeepfinder.training.train(..., max_minutes=--minutes)`` with every other
   option at its default, writing weights about every ``--every`` steps.
3. Each of those weights, and the final ones, segment the held-out movies
   (``segment_movie``, ``--precision`` fp32 by default, ``--tiling``), their events are clustered
   (``cluster_events``, radius 5, ``min_size=10``) and matched to the simulated truth
   (``match_events``, tolerance 5): pooled event precision, recall and F1.

Prints one line per evaluated checkpoint (recipe, step, minutes of training, F1...) and writes
``from_scratch.csv`` and the curves ``from_scratch.png`` into ``--work``. Training time is the
wall clock of ``train`` (evaluation not included); on a machine shared with other jobs it
buys fewer steps.
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


def make_dataset(work: Path, n_movies: int, shape, split: int, seed: int) -> Path:
    """Simulated movies through detect_spots, events_to_labels and the merge, laid out for training."""
    from exodeepfinder.events.targets import events_to_labels
    from exodeepfinder.io.events import write_events
    from exodeepfinder.io.h5 import write_h5
    from exodeepfinder.simulation import simulate_movie
    from exodeepfinder.training_data import detect_spots, merge_detector_expert, structure_training_dataset

    dataset = work / "dataset"
    if (dataset / "train").is_dir():
        return dataset
    for i in range(n_movies):
        sim = simulate_movie(shape, seed=seed + i)
        expert = events_to_labels(sim.events, sim.movie.shape, label=1)
        merged, objects = merge_detector_expert(detect_spots(sim.movie), sim.events, expert)
        folder = work / "movies" / f"sim{seed + i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        write_h5(folder / "movie.h5", sim.movie)
        write_h5(folder / "merged_segmentation.h5", merged)
        write_events(objects, folder / "merged_annotation.xml")
    structure_training_dataset(work / "movies", dataset, split=split, seed=seed)
    return dataset


def held_out_movies(n: int, shape, seed: int) -> list:
    from exodeepfinder.simulation import simulate_movie

    return [(sim.movie, sim.events) for sim in (simulate_movie(shape, seed=seed + i) for i in range(n))]


def event_scores(weights: Path, movies, precision: str, tiling: str) -> dict:
    """Pooled event precision, recall and F1 of ``weights`` on the held-out movies."""
    from exodeepfinder.events import cluster_events, match_events
    from exodeepfinder.events.evaluate import summarize
    from exodeepfinder.inference import segment_movie
    from exodeepfinder.model.weights import load_model

    model = load_model(weights, "cpu")
    counts = np.zeros(3, int)
    for movie, truth in movies:
        labels = segment_movie(movie, model, precision=precision, tiling=tiling)
        summary = match_events(cluster_events(labels, 5, min_size=10), truth, tolerance=5).summary
        counts += [summary["tp"], summary["fp"], summary["fn"]]
    return summarize(*counts)


def train_recipe(dataset: Path, output: Path, loss: str, minutes: float, every: int, seed: int) -> pd.DataFrame:
    """Train from random weights; return the checkpoints: file, step, minutes of training."""
    from exodeepfinder.training import get_recipe, train

    checkpoint_every = max(1, round(every / get_recipe(loss).n_steps[0]))
    started = time.monotonic()
    history = train(dataset, output, loss=loss, max_minutes=minutes, seed=seed, overwrite=True,
                    checkpoint_every=checkpoint_every, log=lambda message: print(f"  [{loss}] {message}", flush=True))
    print(f"  [{loss}] trained for {(time.monotonic() - started) / 60:.1f} min", flush=True)
    import torch

    stages = torch.load(output / "net_train_state.pt", map_location="cpu", weights_only=True)["stages"]
    steps = np.cumsum([stages[record.stage - 1]["n_steps"] for record in history])
    rows = [{"file": output / f"net_weights_epoch{record.epoch}.h5", "step": int(step),
             "minutes": float(np.sum(history["seconds"][:i + 1]) / 60)}
            for i, (record, step) in enumerate(zip(history, steps))
            if (output / f"net_weights_epoch{record.epoch}.h5").is_file()]
    rows.append({"file": output / "net_weights_FINAL.h5", "step": int(steps[-1]),
                 "minutes": (time.monotonic() - started) / 60})
    return pd.DataFrame(rows).drop_duplicates("step", keep="last")


def plot(table: pd.DataFrame, path: Path, minutes: float) -> None:
    from matplotlib.figure import Figure

    from exodeepfinder.io.figures import save_figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    by_step, by_time = figure.subplots(1, 2)
    for loss, curve in table.groupby("loss", sort=False):
        for axis, x in ((by_step, "step"), (by_time, "minutes")):
            axis.plot(curve[x], curve["f1"], marker="o", label=loss)
    for axis, label in ((by_step, "training steps"), (by_time, "minutes of training")):
        axis.axhline(0.9, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel(label)
        axis.set_ylabel("event F1, held-out movies")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(f"From random weights, --max_minutes {minutes:g}")
    save_figure(figure, path, dpi=100)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="folder for the dataset, the runs and the results")
    parser.add_argument("--losses", nargs="+", default=["dice_ce", "tversky"], help="recipes to train")
    parser.add_argument("--minutes", type=float, default=25.0, help="--max_minutes of each training run")
    parser.add_argument("--every", type=int, default=200, help="evaluate about every this many steps")
    parser.add_argument("--n_movies", type=int, default=10, help="simulated movies in the training set")
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 128, 128])
    parser.add_argument("--split", type=int, default=80, help="%% of the movies for training (the rest validates)")
    parser.add_argument("--n_held_out", type=int, default=2, help="held-out movies for the event F1")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "fast"])
    parser.add_argument("--tiling", default="fast", choices=["fast", "reference"],
                        help="segmentation windows of the evaluation (fast: whole frames, half the work)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    dataset = make_dataset(args.work, args.n_movies, tuple(args.shape), args.split, args.seed)
    movies = held_out_movies(args.n_held_out, tuple(args.shape), seed=10_000 + args.seed)
    print(f"dataset {dataset}; {len(movies)} held-out movies with {sum(len(t) for _, t in movies)} events", flush=True)
    rows = []
    for loss in args.losses:
        checkpoints = train_recipe(dataset, args.work / f"run_{loss}", loss, args.minutes, args.every, args.seed)
        for checkpoint in checkpoints.itertuples():
            scores = event_scores(checkpoint.file, movies, args.precision, args.tiling)
            rows.append({"loss": loss, "step": checkpoint.step, "minutes": round(checkpoint.minutes, 2),
                         **{k: scores[k] for k in ("tp", "fp", "fn", "precision", "recall", "f1")}})
            print(f"{loss:>8} step {checkpoint.step:6d} ({checkpoint.minutes:5.1f} min): event F1 {scores['f1']:.3f} "
                  f"(precision {scores['precision']:.3f}, recall {scores['recall']:.3f}; tp {scores['tp']}, "
                  f"fp {scores['fp']}, fn {scores['fn']})", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(args.work / "from_scratch.csv", index=False)
    plot(table, args.work / "from_scratch.png", args.minutes)
    final = table.groupby("loss", sort=False).last()
    print(json.dumps({loss: round(float(row.f1), 3) for loss, row in final.iterrows()}))
    print(f"wrote {args.work / 'from_scratch.csv'} and {args.work / 'from_scratch.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
