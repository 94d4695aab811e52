"""Robustness of models to movies unlike their training data: event F1 over a grid of simulated movies.

The grid crosses three factors of the domain-randomised simulator
(:func:`exodeepfinder.simulation.simulate_randomized`):

- brightness: the events' peak ``event_amplitude`` (photons in the centre pixel; each event varies
  by 0.7-1.3 around it): 50, 150, 500, 2000, against a ``background`` drawn from its default range
  (50-1000 photons per pixel, log-uniform), so a cell mixes dim and bright cells;
- kinetics: the decay time ``event_tau`` of the events, fast (0.5-2 frames), medium (2-5) or slow
  (5-20), the events either decaying in place (``event_spread_fraction`` 0) or all spreading
  laterally (``event_spread`` 0.2-0.6 px^2/frame at psf_sigma 1.3; ``+spread``);
- camera: ``simple``, ``scmos`` or ``emccd``.

Every other setting is drawn from :data:`~exodeepfinder.simulation.DEFAULT_RANGES` (spot size,
frame rate, docked-then-fused events, docked vesicles, flashes, blinking, moving and
arriving-leaving distractors, cell, bleaching, illumination, drift, gain, offset, read noise, hot
pixels), except the event rate, fixed at the top of its range (12 per 100 frames per 100 x 100 px,
``--event-rate``) so that small movies hold enough events. Movie ``k`` of the cell of index ``c``
(its place in the full grid, whatever subset is run) has the seed ``--base-seed + 1000 k + c``
(10000-19999 by default: training sets must not use these seeds).

Each model finds the events with ``edf.detect`` and its default settings (min_size 10, no
min_score, the default inference backend); they are matched one to one to the simulated events at
tolerance 5 (``match_events``). Counts are pooled over a cell's movies. Each pooled F1 comes with a
95% interval from resampling its movies (``pooled_summary``), and the summary gives the paired
interval of the first model's pooled F1 minus the second's (movies resampled within cells, the same
draws for both): with three movies per cell a cell's F1 pins down little, and two models within
0.01 of each other on the whole grid are not told apart by it.

    .venv/bin/python bench/robustness.py --quick --out /tmp/robustness/quick   # smoke run, ~2.5 min on 2 busy cores
    .venv/bin/python bench/robustness.py --out robustness_results                   # full grid (72 cells)
    .venv/bin/python bench/robustness.py --out R --brightness 50 500 --kinetics fast slow+spread
    .venv/bin/python bench/robustness.py --out R --weights bundled new.h5 official --official PATH
    .venv/bin/python bench/robustness.py --out R --resume      # continue a stopped run / rebuild the report

Writes into ``--out``: ``results.jsonl`` (one record per movie and model: counts, timings, the
detected events with their score and what they lie on, the true events and how each fused),
``robustness.csv`` (per cell, with ``f1_low``, ``f1_high``) and ``robustness.md`` (per cell, per factor,
recall per kind of event, intervals),
``robustness.png`` (heat maps: one panel per model, then the first model minus the second), and the
event-score analysis of ``bench/scores.py`` (``scores.md``, ``scores_pr.csv``, ``scores.png``).
Records are keyed by the weights' checksum, so a new bundled model is measured anew in the same
folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scores  # noqa: E402  (bench/scores.py)
from machine import cpu_name  # noqa: E402  (bench/machine.py)

#: Peak event brightness of each level (photons in the centre pixel).
BRIGHTNESS = {"50": 50.0, "150": 150.0, "500": 500.0, "2000": 2000.0}
#: Event decay times (frames) of each kinetics level.
DECAYS = {"fast": (0.5, 2.0), "medium": (2.0, 5.0), "slow": (5.0, 20.0)}
#: Lateral spread of the events of each kinetics level (``+spread``: every event spreads).
SPREADS = {"": {"event_spread_fraction": 0.0},
           "+spread": {"event_spread_fraction": 1.0, "event_spread": (0.2, 0.6)}}
KINETICS = {decay + suffix: {"event_tau": tau, **spread}
            for decay, tau in DECAYS.items() for suffix, spread in SPREADS.items()}
CAMERAS = ("simple", "scmos", "emccd")
#: Seeds of movie k of cell c: BASE_SEED + SEED_STRIDE * k + c.
BASE_SEED, SEED_STRIDE = 10_000, 1000
#: The --quick grid: two cells, one movie each, small movies.
QUICK = dict(brightness=["150", "2000"], kinetics=["medium+spread"], cameras=["emccd"], movies_per_cell=1,
             shape=[48, 80, 80])
#: The F1 issue 12 asks of every cell above the lowest brightness.
GOAL_F1 = 0.9
OFFICIAL_ENV = "EXODEEPFINDER_OFFICIAL_WEIGHTS"
REPOSITORY_OFFICIAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "net_weights_FINAL.h5"


@dataclass(frozen=True)
class Cell:
    """One cell of the grid; ``index`` is its place in the full grid (it sets the seeds)."""

    index: int
    brightness: str
    kinetics: str
    camera: str

    def ranges(self, event_rate: float) -> dict:
        """The ``simulate_randomized`` ranges that fix this cell's settings."""
        return {"event_amplitude": BRIGHTNESS[self.brightness], "camera": self.camera, "event_rate": event_rate,
                **KINETICS[self.kinetics]}

    def seed(self, movie: int, base_seed: int = BASE_SEED) -> int:
        return base_seed + SEED_STRIDE * movie + self.index

    @property
    def name(self) -> str:
        return f"{self.brightness} photons, {self.kinetics}, {self.camera}"


def grid_cells(brightness, kinetics, cameras) -> list:
    """The cells of the chosen levels, in grid order (brightness, then kinetics, then camera)."""
    cells = []
    for ib, b in enumerate(BRIGHTNESS):
        for ik, k in enumerate(KINETICS):
            for ic, c in enumerate(CAMERAS):
                if b in brightness and k in kinetics and c in cameras:
                    cells.append(Cell((ib * len(KINETICS) + ik) * len(CAMERAS) + ic, b, k, c))
    return cells


def simulate_cell(cell: Cell, seed: int, shape, event_rate: float):
    """The movie of ``cell`` simulated with ``seed`` (``cell.seed(movie)``, or a record's ``seed``)."""
    from exodeepfinder.simulation import simulate_randomized

    return simulate_randomized(tuple(shape), seed=seed, ranges=cell.ranges(event_rate))


def official_weights(path=None) -> Path:
    """The official weights: ``path``, else $EXODEEPFINDER_OFFICIAL_WEIGHTS, the user cache, the shared copy."""
    from exodeepfinder.model.weights import official_weights_path

    candidates = [path, os.environ.get(OFFICIAL_ENV), official_weights_path(), REPOSITORY_OFFICIAL]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    raise SystemExit("error: official weights not found: give --official PATH, set "
                     f"{OFFICIAL_ENV}, or run 'exodeepfinder download-weights'")


def resolve_models(entries, official=None) -> list:
    """``(label, path)`` of each ``--weights`` entry: ``bundled``, ``official`` or a weights file."""
    from exodeepfinder.model.weights import BUNDLED_WEIGHTS

    models = []
    for entry in entries:
        if entry == "bundled":
            models.append(("bundled", BUNDLED_WEIGHTS))
        elif entry == "official":
            models.append(("official", official_weights(official)))
        else:
            path = Path(entry).expanduser()
            if not path.is_file():
                raise SystemExit(f"error: --weights {entry}: file not found")
            models.append((path.stem, path))
    labels = [label for label, _ in models]
    if len(set(labels)) != len(labels):
        raise SystemExit(f"error: --weights: two models named alike ({', '.join(labels)})")
    return models


def file_digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def measure_movie(model, simulation, *, backend: str, tolerance: float) -> dict:
    """Detect the events of one simulated movie and compare them with the truth."""
    import exodeepfinder as edf
    from exodeepfinder.events.evaluate import match_events

    start = time.perf_counter()
    detection = edf.detect(simulation.movie, model, backend=backend)
    seconds = time.perf_counter() - start
    detected, truth = detection.events, simulation.events
    matching = match_events(detected, truth, tolerance)
    matched = detected.index.isin(matching.pairs["detected"])
    on = scores.classify_detections(detected, simulation, matched, tolerance)
    return {**{k: matching.summary[k] for k in ("tp", "fp", "fn")}, "n_true": len(truth),
            "seconds_detect": seconds,
            "detected": [[float(r.t), float(r.y), float(r.x), float(r.score), int(r.cluster_size),
                          float(r.peak_dff), kind, float(r.probability), float(r.peak_snr), float(r.decay_ratio)]
                         for r, kind in zip(detected.itertuples(), on)],
            "truth": truth[["t", "y", "x"]].astype(float).to_numpy().tolist(),
            "truth_kind": truth["kind"].astype(str).tolist()}


def add_truth_kinds(records, event_rate: float) -> int:
    """Give ``truth_kind`` (how each true event fused) to the records written before it was kept.

    Their movies are simulated again from their seeds; returns the number of records updated.
    """
    updated = 0
    for record in records:
        if "truth_kind" in record:
            continue
        cell = Cell(record["cell"], record["brightness"], record["kinetics"], record["camera"])
        truth = simulate_cell(cell, record["seed"], record["shape"], event_rate).events
        if not np.allclose(truth[["t", "y", "x"]].to_numpy(float), np.asarray(record["truth"], float).reshape(-1, 3)):
            raise SystemExit(f"error: cell {record['cell']} seed {record['seed']}: the simulator no longer makes the "
                             "movie of this record; measure again with --overwrite")
        record["truth_kind"] = truth["kind"].astype(str).tolist()
        updated += 1
    return updated


def recall_by_kind(records, tolerance: float) -> pd.DataFrame:
    """Events found per model and kind of event (arrived and fused at once, or docked first)."""
    from exodeepfinder.events.evaluate import match_events

    rows = []
    for record in records:
        truth = pd.DataFrame(record["truth"], columns=["t", "y", "x"]).assign(kind=record["truth_kind"])
        detected = scores.detected_table(record)
        found = np.zeros(len(truth), bool)
        if len(detected) and len(truth):
            found[match_events(detected, truth, tolerance).pairs["reference"].to_numpy(int)] = True
        rows += [{"model": record["model"], "kind": kind, "found": hit} for kind, hit in zip(truth["kind"], found)]
    table = pd.DataFrame(rows).groupby(["kind", "model"], sort=False)["found"].agg(events="size", found="sum")
    table["recall"] = table["found"] / table["events"]
    return table.reset_index()


def rescore(records, event_rate: float) -> int:
    """Score anew, in place, the events of records written before ``exodeepfinder.events.score``.

    Their ``score`` was the mean event probability: it becomes ``probability``, and the events are
    measured again in their re-simulated movie (same seed) and scored as ``detect`` now does
    (``measure_events``, ``score_events``; the events themselves, found with no min_score, are
    the same). Returns the number of records updated.
    """
    from exodeepfinder.events.measure import measure_events
    from exodeepfinder.events.score import score_events

    updated = 0
    for record in records:
        if not record["detected"] or len(record["detected"][0]) == len(scores.DETECTED_COLUMNS):
            continue
        cell = Cell(record["cell"], record["brightness"], record["kinetics"], record["camera"])
        simulation = simulate_cell(cell, record["seed"], record["shape"], event_rate)
        old = scores.detected_table(record).drop(columns="probability").rename(columns={"score": "probability"})
        new = score_events(measure_events(simulation.movie, old[["t", "y", "x", "probability"]]))
        record["detected"] = [[r.t, r.y, r.x, float(s), int(r.cluster_size), float(d), r.on, r.probability,
                               float(snr), float(ratio)]
                              for r, s, d, snr, ratio in zip(old.itertuples(), new["score"], new["peak_dff"],
                                                             new["peak_snr"], new["decay_ratio"])]
        updated += 1
    return updated


def write_results(path: Path, records) -> None:
    """Rewrite ``results.jsonl`` with ``records`` (atomically: a stopped run leaves the old file)."""
    from exodeepfinder.io.atomic import atomic_output

    with atomic_output(path, overwrite=True) as scratch:
        scratch.write_text("".join(json.dumps(record) + "\n" for record in records))


def record_key(record) -> tuple:
    return record["model"], record["weights_sha256"], record["cell"], record["seed"], tuple(record["shape"])


def run(args, models, cells, results_path: Path) -> list:
    """Measure every (model, cell, movie) not yet in ``results_path``; return the records of this plan."""
    import exodeepfinder as edf

    done = {record_key(r): r for r in scores.read_results(results_path)} if results_path.exists() else {}
    planned = []
    n_total = len(models) * len(cells) * args.movies_per_cell
    voxels = int(np.prod(args.shape))
    count = 0
    with results_path.open("a") as results:
        for label, path in models:
            digest = file_digest(path)
            model = None
            for cell in cells:
                for movie in range(args.movies_per_cell):
                    count += 1
                    seed = cell.seed(movie, args.base_seed)
                    key = (label, digest, cell.index, seed, tuple(args.shape))
                    if key in done:
                        planned.append(done[key])
                        continue
                    if model is None:
                        model = edf.load_model(str(path), device=args.device)
                        print(f"{label}: {path} (sha256 {digest}...)", flush=True)
                    start = time.perf_counter()
                    simulation = simulate_cell(cell, seed, args.shape, args.event_rate)
                    seconds_simulate = time.perf_counter() - start
                    measured = measure_movie(model, simulation, backend=args.backend, tolerance=args.tolerance)
                    record = {"model": label, "weights": str(path), "weights_sha256": digest, "cell": cell.index,
                              "brightness": cell.brightness, "kinetics": cell.kinetics, "camera": cell.camera,
                              "movie": movie, "seed": seed, "shape": list(args.shape),
                              "background": simulation.params["randomized"]["background"],
                              "seconds_simulate": seconds_simulate, **measured}
                    results.write(json.dumps(record) + "\n")
                    results.flush()
                    planned.append(record)
                    print(f"[{count}/{n_total}] {label:>10}  cell {cell.index:2d} ({cell.name}) seed {seed}: "
                          f"{record['n_true']:2d} events, tp {record['tp']:2d} fp {record['fp']:2d} "
                          f"fn {record['fn']:2d}; detect {record['seconds_detect']:.1f} s "
                          f"({voxels / record['seconds_detect'] / 1e6:.3f} M voxels/s), "
                          f"simulate {seconds_simulate:.2f} s", flush=True)
    return planned


def pooled(records, by) -> pd.DataFrame:
    """Counts summed over ``records`` grouped by ``by`` (+ model), with precision, recall, F1 and its 95% interval.

    The interval (``f1_low``, ``f1_high``) resamples the group's movies: with 3 movies a cell's
    interval is wide, and says how little one cell's F1 pins down.
    """
    from exodeepfinder.events.evaluate import pooled_summary

    table = pd.DataFrame([{k: r[k] for k in ("model", "cell", "brightness", "kinetics", "camera", "seed", "n_true",
                                             "tp", "fp", "fn")} for r in records])
    rows = []
    for keys, group in table.groupby(by + ["model"], sort=False):
        rows.append({**dict(zip(by + ["model"], keys)), "movies": len(group), "events": int(group["n_true"].sum()),
                     **pooled_summary(group[["tp", "fp", "fn"]].to_numpy())})
    return pd.DataFrame(rows)


def wide(table, by, labels) -> pd.DataFrame:
    """One row per group: the events, then F1 and precision / recall of each model, then the F1 difference."""
    rows = []
    for keys, group in table.groupby(by, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(by, keys))
        row["movies"] = int(group["movies"].iloc[0])
        row["events"] = int(group["events"].iloc[0])
        for label in labels:
            mine = group[group["model"] == label].iloc[0]
            row[f"{label} F1"] = mine["f1"]
            row[f"{label} P / R"] = " / ".join("-" if np.isnan(mine[k]) else f"{mine[k]:.2f}"
                                                for k in ("precision", "recall"))
        if len(labels) >= 2:
            row[f"F1 {labels[0]} - {labels[1]}"] = row[f"{labels[0]} F1"] - row[f"{labels[1]} F1"]
        rows.append(row)
    return pd.DataFrame(rows)


def heatmap_figure(cells_table, labels, cells):
    """Panels of F1 per cell (rows: brightness; columns: kinetics within camera), one per model, then the difference."""
    from matplotlib.figure import Figure

    rows = list(dict.fromkeys(c.brightness for c in cells))
    columns = list(dict.fromkeys((c.camera, c.kinetics) for c in cells))
    columns.sort(key=lambda ck: (CAMERAS.index(ck[0]), list(KINETICS).index(ck[1])))
    panels = [(label, "f1") for label in labels] + ([("difference", None)] if len(labels) >= 2 else [])
    width = max(6.0, 1.2 + 0.62 * len(columns))
    figure = Figure(figsize=(width, (0.9 + 0.42 * len(rows)) * len(panels) + 0.4), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]

    def grid_of(label):
        values = np.full((len(rows), len(columns)), np.nan)
        mine = cells_table[cells_table["model"] == label]
        for r in mine.itertuples():
            values[rows.index(r.brightness), columns.index((r.camera, r.kinetics))] = r.f1
        return values

    for ax, (label, _) in zip(axes, panels):
        if label == "difference":
            values = grid_of(labels[0]) - grid_of(labels[1])
            limit = max(0.2, float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.2)
            image = ax.imshow(values, cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
            title = f"F1 difference: {labels[0]} - {labels[1]} (blue: {labels[0]} better)"
            text_colour = lambda v: "white" if abs(v) > 0.6 * limit else "black"  # noqa: E731
        else:
            values = grid_of(label)
            image = ax.imshow(values, cmap="viridis", vmin=0, vmax=1, aspect="auto")
            worst = np.nanmin(values) if np.isfinite(values).any() else float("nan")
            title = f"{label}: event F1 (worst cell {worst:.2f})"
            text_colour = lambda v: "white" if v < 0.55 else "black"  # noqa: E731
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:+.2f}" if label == "difference" else f"{v:.2f}", ha="center", va="center",
                        fontsize=7.5, color=text_colour(v))
        ax.set_yticks(range(len(rows)), [f"{b} ph" for b in rows])
        ax.set_ylabel("event peak")
        ax.set_xticks(range(len(columns)), [k.replace("+", "\n+") for _, k in columns], fontsize=7.5)
        for j in range(1, len(columns)):
            if columns[j][0] != columns[j - 1][0]:
                ax.axvline(j - 0.5, color="white", linewidth=3)
        cameras = list(dict.fromkeys(c for c, _ in columns))
        top = ax.secondary_xaxis("top")
        top.set_xticks([np.mean([j for j, (c, _) in enumerate(columns) if c == camera]) for camera in cameras],
                       [f"{camera} camera" for camera in cameras], fontsize=8.5, fontweight="bold")
        top.tick_params(length=0)
        ax.set_title(title, fontsize=10)
        figure.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    return figure


def uncertainty(records, labels, n_resamples: int = 2000) -> list:
    """Summary lines: each model's pooled F1 with its 95% interval, and the paired interval of the first minus the second.

    Movies are resampled within their cell (``bootstrap_pooled``), the same draws for every
    model, so the difference is measured draw by draw on the same movies.
    """
    from exodeepfinder.events.evaluate import bootstrap_pooled

    movies = sorted({(r["cell"], r["seed"]) for r in records})
    if len(movies) == len({cell for cell, _ in movies}):
        return ["- one movie per cell: no intervals (resampling a single movie says nothing)"]
    by_key = {(r["model"], r["cell"], r["seed"]): r for r in records}
    draws, lines = {}, []
    for label in labels:
        if not all((label, *movie) in by_key for movie in movies):
            continue  # a model measured on other movies than the rest: no paired draws
        counts = [[by_key[(label, *movie)][k] for k in ("tp", "fp", "fn")] for movie in movies]
        draws[label] = bootstrap_pooled(counts, n_resamples=n_resamples, strata=[c for c, _ in movies])[:, 2]
        low, high = np.nanquantile(draws[label], [0.025, 0.975])
        lines.append(f"- {label}: pooled F1 95% interval {low:.3f}-{high:.3f} (movies resampled within cells, "
                     f"{n_resamples} draws)")
    if len(labels) >= 2 and labels[0] in draws and labels[1] in draws:
        difference = draws[labels[0]] - draws[labels[1]]
        low, high = np.nanquantile(difference, [0.025, 0.975])
        lines.append(f"- pooled F1 {labels[0]} - {labels[1]}: 95% interval {low:+.3f} to {high:+.3f} (paired draws; "
                     f"{labels[0]} ahead in {np.mean(difference > 0):.0%} of them)")
    return lines


def report(records, labels, cells, args) -> str:
    """Write robustness.csv / .md / .png and the score analysis into ``args.out``; return the markdown."""
    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.io.figures import save_figure
    from exodeepfinder.io.tables import write_csv

    overwrite = args.resume or args.overwrite
    out = args.out
    per_cell = pooled(records, ["cell", "brightness", "kinetics", "camera"])
    write_csv(per_cell, out / "robustness.csv", overwrite=overwrite)
    save_figure(heatmap_figure(per_cell, labels, cells), out / "robustness.png", dpi=120, overwrite=overwrite)

    sections = [f"Event F1 per cell ({len(cells)} cells x {args.movies_per_cell} movie(s) of "
                f"{' x '.join(map(str, args.shape))}; tolerance {args.tolerance:g}; `detect` defaults):",
                scores.markdown(wide(per_cell, ["brightness", "kinetics", "camera"], labels).rename(
                    columns={"brightness": "peak (photons)"}))]
    for factor in ("brightness", "kinetics", "camera"):
        sections += [f"Pooled by {factor}:", scores.markdown(wide(pooled(records, [factor]), [factor], labels))]
    lines = uncertainty(records, labels)
    for label in labels:
        mine = per_cell[per_cell["model"] == label]
        lowest = min(mine["brightness"], key=lambda b: BRIGHTNESS[b])
        for scope, part in (("", mine), (" above the lowest brightness", mine[mine["brightness"] != lowest])):
            if not len(part) or (scope and len(part) == len(mine)):
                continue
            f1 = part["f1"].fillna(0)
            worst = part[f1 == f1.min()]
            names = "; ".join(f"{w.brightness} photons, {w.kinetics}, {w.camera}" for w in worst.itertuples())
            lines.append(f"- {label}: worst F1{scope} {f1.min():.3f} in {len(worst)} cell(s): {names}")
            if scope:
                short = part[f1 < GOAL_F1]
                below = (f"; {int((short['f1_high'] < GOAL_F1).sum())} of them with the whole 95% interval below"
                         if part["f1_high"].notna().any() else "")
                lines.append(f"- {label}: {len(short)} of {len(part)} cells{scope} below F1 {GOAL_F1}{below}")
    if len(labels) >= 2:
        a = per_cell[per_cell["model"] == labels[0]].set_index("cell")["f1"]
        b = per_cell[per_cell["model"] == labels[1]].set_index("cell")["f1"]
        lines.append(f"- {labels[0]} beats {labels[1]} in {int((a > b).sum())} of {len(a)} cells, "
                     f"ties in {int((a == b).sum())}")
    timing = pd.DataFrame([{"model": r["model"], "s": r["seconds_detect"]} for r in records])
    voxels = int(np.prod(args.shape))
    for label in labels:
        seconds = timing.loc[timing["model"] == label, "s"]
        lines.append(f"- {label}: detect {seconds.median():.1f} s per movie (median; {seconds.min():.1f}-"
                     f"{seconds.max():.1f} s; {voxels / seconds.median() / 1e6:.3f} M voxels/s), "
                     f"{seconds.sum() / 60:.1f} min in all")
    by_kind = recall_by_kind(records, args.tolerance)
    sections += ["Recall by kind of event (a vesicle that arrived and fused at once, or one docked for a while "
                 "before it fused):",
                 scores.markdown(by_kind.pivot(index="kind", columns="model", values="recall")[labels].reset_index())]
    sections += ["Summary:", "\n".join(lines)]
    text = "\n\n".join(sections) + "\n"
    with atomic_output(out / "robustness.md", overwrite=overwrite) as scratch:
        scratch.write_text(text)
    return text + "\n" + scores.write_report(out, records, args.tolerance, overwrite=overwrite)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", nargs="+", default=["bundled", "official"],
                        help="models: 'bundled', 'official' or weights files (default: bundled official); "
                             "the difference panel is the first minus the second")
    parser.add_argument("--official", type=Path, help=f"official weights file (default: ${OFFICIAL_ENV}, the "
                                                      "user cache, or the shared copy)")
    parser.add_argument("--brightness", nargs="+", choices=list(BRIGHTNESS), default=list(BRIGHTNESS),
                        help="event peak levels (photons)")
    parser.add_argument("--kinetics", nargs="+", choices=list(KINETICS), default=list(KINETICS))
    parser.add_argument("--cameras", nargs="+", choices=CAMERAS, default=list(CAMERAS))
    parser.add_argument("--movies-per-cell", type=int, default=2)
    parser.add_argument("--shape", nargs=3, type=int, default=[100, 96, 96], metavar=("FRAMES", "HEIGHT", "WIDTH"))
    parser.add_argument("--event-rate", type=float, default=12.0,
                        help="events per 100 frames per 100 x 100 px (default 12, the top of the randomised range)")
    parser.add_argument("--base-seed", type=int, default=BASE_SEED)
    parser.add_argument("--tolerance", type=float, default=5.0)
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "openvino"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 cells (150 and 2000 photons, medium+spread, emccd), 1 movie of 48 x 80 x 80")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--resume", action="store_true",
                        help="keep the results in --out, measure what is missing, rewrite the report")
    parser.add_argument("--overwrite", action="store_true", help="start again: discard the results in --out")
    parser.add_argument("--rescore", action="store_true",
                        help="with --resume: only score the events of the records written before "
                             "exodeepfinder.events.score as detect now does (re-simulating their movies), rewrite "
                             "results.jsonl and the report; give the grid options of the run that wrote them")
    args = parser.parse_args(argv)
    if args.rescore and not args.resume:
        parser.error("--rescore: needs --resume")
    if args.quick:
        for name, value in QUICK.items():
            setattr(args, name, value)
    if args.movies_per_cell < 1:
        parser.error("--movies-per-cell: must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    results_path = args.out / "results.jsonl"
    if results_path.exists() and not (args.resume or args.overwrite):
        raise SystemExit(f"error: {results_path} exists: --resume to continue it, --overwrite to start again")
    models = resolve_models(args.weights, args.official)
    cells = grid_cells(args.brightness, args.kinetics, args.cameras)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.overwrite and not args.resume:
        results_path.unlink(missing_ok=True)
    import exodeepfinder

    print(f"CPU: {cpu_name()}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}; "
          f"exodeepfinder {getattr(exodeepfinder, '__version__', '?')}; backend {args.backend}")
    print(f"{len(cells)} cells x {args.movies_per_cell} movie(s) of {' x '.join(map(str, args.shape))} x "
          f"{len(models)} model(s); seeds {args.base_seed} + {SEED_STRIDE} k + cell", flush=True)
    start = time.perf_counter()
    if args.rescore:
        records = scores.read_results(results_path)
        print(f"rescored {rescore(records, args.event_rate)} of {len(records)} records", flush=True)
        write_results(results_path, records)
    else:
        records = run(args, models, cells, results_path)
    if any("truth_kind" not in record for record in records):
        every = scores.read_results(results_path)
        print(f"kinds of the true events added to {add_truth_kinds(every, args.event_rate)} earlier records",
              flush=True)
        write_results(results_path, every)
        kinds = {record_key(r): r["truth_kind"] for r in every}
        for record in records:
            record["truth_kind"] = kinds[record_key(record)]
    print(f"wall time {(time.perf_counter() - start) / 60:.1f} min\n")
    print(report(records, [label for label, _ in models], cells, args))


if __name__ == "__main__":
    main()
