"""Quality of the faster precisions against float32: events found on simulated movies, pooled.

The quality criterion of issue 30 for a faster mode made default: on the robustness grid (bundled
model) and on default simulations (official weights), pooled recall no lower than float32's by
more than 0.005 and F1 no lower by more than 0.01.

Each movie is detected (``edf.detect``, default settings: OpenVINO on the CPU, fast tiling,
min_size 10) once per precision, and the events matched one to one to the simulated truth within
5 voxels (``match_events``). The reference is ``fast`` on a CPU without bfloat16 (float32
arithmetic, the same tiling as int8: the comparison isolates the arithmetic); ``fp32`` adds the
reference tiling. Besides the events, the share of voxels whose label differs from the first
precision's is reported.

Two sets of movies:

- ``grid``: cells of the robustness grid (bench/robustness.py: its seeds, shapes, event rate), one
  movie per cell, bundled model;
- ``default``: ``simulate_movie`` with its defaults (200 x 128 x 128, 20 events), seeds 1-6,
  official weights (and the bundled model with ``--default_weights bundled official``).

    .venv/bin/python bench/precision_quality.py --out /work/runs/speed/quality      # resumable
    .venv/bin/python bench/precision_quality.py --out Q --precisions fast int8 --sets default
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import robustness  # noqa: E402  (bench/robustness.py)
from machine import cpu_name  # noqa: E402

#: The grid cells measured by default: every brightness, three kinetics, two cameras (24 cells).
GRID = dict(brightness=list(robustness.BRIGHTNESS), kinetics=["fast", "medium+spread", "slow"],
            cameras=["scmos", "emccd"])
DEFAULT_SEEDS = range(1, 7)
RECALL_MARGIN, F1_MARGIN = 0.005, 0.01


def movies(sets, default_weights, shape, event_rate):
    """``(set, weights label, movie name, simulate())`` of every movie to measure."""
    from exodeepfinder.simulation import simulate_movie

    out = []
    if "grid" in sets:
        for cell in robustness.grid_cells(GRID["brightness"], GRID["kinetics"], GRID["cameras"]):
            seed = cell.seed(0)
            out.append(("grid", "bundled", f"{cell.name} (seed {seed})",
                        lambda cell=cell, seed=seed: robustness.simulate_cell(cell, seed, shape, event_rate)))
    if "default" in sets:
        for label in default_weights:
            for seed in DEFAULT_SEEDS:
                out.append(("default", label, f"default seed {seed}", lambda seed=seed: simulate_movie(seed=seed)))
    return out


def measure(model, simulation, precision):
    import exodeepfinder as edf
    from exodeepfinder.events.evaluate import match_events

    start = time.perf_counter()
    detection = edf.detect(simulation.movie, model, precision=precision)
    seconds = time.perf_counter() - start
    summary = match_events(detection.events, simulation.events, 5.0).summary
    return {k: int(summary[k]) for k in ("tp", "fp", "fn")}, detection.labels, seconds


def report(records, precisions):
    from exodeepfinder.events.evaluate import pooled_summary

    lines = [f"CPU: {cpu_name()}", "",
             "| movies | weights | precision | events | recall | F1 | F1 95% | voxels differing | median s per movie | pass |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = {}
    groups = sorted({(r["set"], r["weights"]) for r in records})
    for group in groups:
        mine = [r for r in records if (r["set"], r["weights"]) == group]
        names = sorted({r["movie"] for r in mine})
        complete = [n for n in names if all(any(r["movie"] == n and r["precision"] == p for r in mine)
                                            for p in precisions)]
        base = None
        for precision in precisions:
            rows = [next(r for r in mine if r["movie"] == n and r["precision"] == precision) for n in complete]
            if not rows:
                continue
            pooled = pooled_summary([[r["tp"], r["fp"], r["fn"]] for r in rows])
            differing = np.mean([r["differing"] for r in rows])
            seconds = np.median([r["seconds"] for r in rows])  # the first int8 movie includes the quantization
            verdict = ""
            if base is None:
                base = pooled
            else:
                ok = pooled["recall"] >= base["recall"] - RECALL_MARGIN and pooled["f1"] >= base["f1"] - F1_MARGIN
                verdicts.setdefault(precision, []).append(ok)
                verdict = (f"{'yes' if ok else 'NO'} (recall {pooled['recall'] - base['recall']:+.3f}, "
                           f"F1 {pooled['f1'] - base['f1']:+.3f})")
            lines.append(f"| {group[0]} ({len(rows)}) | {group[1]} | {precision} | {pooled['tp'] + pooled['fn']} | "
                         f"{pooled['recall']:.3f} | {pooled['f1']:.3f} | {pooled['f1_low']:.3f}-{pooled['f1_high']:.3f} | "
                         f"{differing:.2e} | {seconds:.1f} | {verdict} |")
    lines.append("")
    for precision, oks in verdicts.items():
        lines.append(f"{precision}: {'passes' if all(oks) else 'FAILS'} the quality criterion against {precisions[0]} "
                     f"(recall within {RECALL_MARGIN}, F1 within {F1_MARGIN}, on every set)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder of results.jsonl and quality.md")
    parser.add_argument("--precisions", nargs="+", default=["fast", "int8"],
                        help="the first is the reference (default: fast, i.e. float32 without bfloat16 units)")
    parser.add_argument("--sets", nargs="+", default=["grid", "default"], choices=["grid", "default"])
    parser.add_argument("--default_weights", nargs="+", default=["official"], choices=["bundled", "official"])
    parser.add_argument("--official", type=Path, help="official weights file (default: as bench/robustness.py)")
    parser.add_argument("--shape", nargs=3, type=int, default=[100, 96, 96], help="grid movie shape")
    parser.add_argument("--event-rate", type=float, default=12.0)
    parser.add_argument("--report_only", action="store_true")
    args = parser.parse_args(argv)

    from exodeepfinder.model.weights import load_model

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "results.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    if not args.report_only:
        print(f"CPU: {cpu_name()}, {os.cpu_count()} logical CPUs; load average {os.getloadavg()[0]:.1f}", flush=True)
        models = {}
        for set_name, label, name, simulate in movies(args.sets, args.default_weights, args.shape, args.event_rate):
            todo = [p for p in args.precisions if not any(
                r["set"] == set_name and r["weights"] == label and r["movie"] == name and r["precision"] == p
                for r in records)]
            if not todo:
                continue
            if label not in models:
                weights = None if label == "bundled" else robustness.official_weights(args.official)
                models[label] = load_model(weights, "cpu")
            simulation = simulate()
            labels = {}
            for precision in args.precisions:
                counts, labels[precision], seconds = measure(models[label], simulation, precision)
                differing = float(np.mean(labels[precision] != labels[args.precisions[0]]))
                if precision not in todo:
                    continue
                record = dict(set=set_name, weights=label, movie=name, precision=precision, seconds=seconds,
                              differing=differing, **counts)
                records.append(record)
                with path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print(f"{set_name} {label} {name} {precision}: tp {counts['tp']} fp {counts['fp']} fn {counts['fn']}, "
                      f"{differing:.2e} voxels differ, {seconds:.1f} s", flush=True)
    text = report(records, args.precisions)
    (args.out / "quality.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
