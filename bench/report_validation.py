"""Validation of `exodeepfinder report`'s analysis on simulated cells (issue 29 goals).

On cells of the package's simulator (``exodeepfinder.simulation``), with the true events given as
the detections (the goals are "given the detections"), measures:

- the automatic cell mask's area against the true cell (``cell_mask``): ratio, share within 10 %;
- the rate (events per µm² per minute in the mask less the frame-edge band) against the truth
  (the simulator's events over its cell less its margin band);
- the clustering test: share of random cells (complete spatial randomness) flagged at p < 0.05
  (the false-positive rate) and share of hotspot cells flagged;
- event types: the confusion matrices of origin (docked / arrived) and release (spreading /
  in place) against the simulator's truth, at the default docked-vesicle brightness (0.4 of the
  event's peak) and a dim one (0.1, about 2x the pixel noise), with the agreement where the docked
  vesicle is at least 2x the noise (its centre-pixel photons over the pixel noise, from the truth).

    python bench/report_validation.py -o OUT [--n_cells 40]

writes ``OUT/validation.md`` (the tables docs/report.md quotes) and ``OUT/validation.csv``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

from exodeepfinder.analysis import analyse_cell, classify_events
from exodeepfinder.simulation import simulate_movie

PIXEL, INTERVAL = 0.16, 0.3


def _window(mask, border=6):
    window = mask.copy()
    window[:border], window[-border:], window[:, :border], window[:, -border:] = False, False, False, False
    return window


def spatial_and_rates(n_cells, shape, rate):
    rows = []
    for pattern, hotspots in (("random", 0), ("hotspots", 4)):
        for seed in range(n_cells):
            sim = simulate_movie(shape, event_rate=rate, hotspots=hotspots, hotspot_fraction=0.7, n_spots=20,
                                 pixel_size=PIXEL, frame_interval=INTERVAL, seed=[seed, 29, hotspots])
            analysis = analyse_cell(sim.movie, sim.events, pixel_size=PIXEL, frame_interval=INTERVAL, offset=100,
                                    measure=False, seed=seed)
            minutes = shape[0] * INTERVAL / 60
            truth = len(sim.events) / (_window(sim.cell_mask).sum() * PIXEL ** 2 * minutes)
            stats = analysis.stats
            rows.append(dict(pattern=pattern, seed=seed, n_events=len(sim.events),
                             mask_ratio=stats["mask_area_um2"] / (sim.cell_mask.sum() * PIXEL ** 2),
                             rate_ratio=stats["events_per_um2_per_min"] / truth, clustering_p=stats["clustering_p"],
                             spacetime_p=stats["spacetime_p"]))
            print(pattern, seed, {k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()},
                  flush=True)
    return pd.DataFrame(rows)


def types(n_movies, shape, brightness):
    tables = []
    for seed in range(n_movies):
        sim = simulate_movie(shape, n_events=40, n_spots=20, docked_fraction=0.5, event_spread_fraction=0.5,
                             event_docking_brightness=brightness, seed=[seed, 31])
        typed = classify_events(sim.movie, sim.events, offset=100)
        typed["true_origin"] = np.where(sim.events["kind"] == "docked_then_fused", "docked", "arrived")
        typed["true_release"] = np.where(sim.events["spread"] > 0, "spreading", "in_place")
        # the docked vesicle's centre-pixel photons over the pixel noise (shot noise of the cell's
        # mean fluorescence and read noise): the truth's signal-to-noise ratio of the vesicle
        noise = np.sqrt(sim.params["background"] + sim.params["read_noise"] ** 2)
        typed["true_vesicle_snr"] = np.where(typed["true_origin"] == "docked",
                                             brightness * sim.events["amplitude"] / noise, np.nan)
        tables.append(typed)
    return pd.concat(tables, ignore_index=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--n_cells", type=int, default=40, help="cells of each pattern (random, hotspots)")
    parser.add_argument("--shape", type=int, nargs=3, default=[300, 128, 128])
    parser.add_argument("--rate", type=float, default=0.3, help="events per µm² per minute")
    parser.add_argument("--n_type_movies", type=int, default=6)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    start = time.time()
    cells = spatial_and_rates(args.n_cells, tuple(args.shape), args.rate)
    cells.to_csv(args.output / "validation.csv", index=False)
    lines = [f"# report validation ({platform.processor() or platform.machine()}, {time.time() - start:.0f} s)", "",
             f"{args.n_cells} cells per pattern, movies {' x '.join(map(str, args.shape))} (frames, y, x), "
             f"{PIXEL} µm pixels, {INTERVAL} s frames, rate {args.rate} events / µm² / min, 20 docked vesicles, "
             "hotspot cells: 4 hotspots holding 70 % of the events (1.5 px scatter); the true events as the "
             "detections.", "",
             "| pattern | cells | events per cell (median) | mask area / true (median, within 10 %) "
             "| rate / true (median, within 10 %) | flagged p < 0.05 | Knox p < 0.05 |",
             "|---|---|---|---|---|---|---|"]
    for pattern, group in cells.groupby("pattern", sort=False):
        lines.append(f"| {pattern} | {len(group)} | {group['n_events'].median():.0f} | "
                     f"{group['mask_ratio'].median():.3f}, {np.mean(abs(group['mask_ratio'] - 1) <= 0.1):.0%} | "
                     f"{group['rate_ratio'].median():.3f}, {np.mean(abs(group['rate_ratio'] - 1) <= 0.1):.0%} | "
                     f"{np.mean(group['clustering_p'] < 0.05):.1%} | {np.mean(group['spacetime_p'] < 0.05):.1%} |")
    for brightness in (0.4, 0.1):
        typed = types(args.n_type_movies, (300, 128, 128), brightness)
        origin = pd.crosstab(typed["true_origin"], typed["origin"])
        release = pd.crosstab(typed["true_release"], typed["release"])
        docked = typed[typed["true_origin"] == "docked"]["docked_snr"]
        right = typed["origin"] == typed["true_origin"]
        visible = (typed["true_origin"] == "arrived") | (typed["true_vesicle_snr"] >= 2)  # vesicle >= 2x the noise
        lines += ["", f"## Event types, docked vesicle {brightness} x the event's peak "
                      f"({args.n_type_movies} movies 300 x 128 x 128, 40 events each, half docked, half spreading)", "",
                  f"docked vesicles: true SNR (centre pixel over pixel noise) median "
                  f"{typed['true_vesicle_snr'].median():.1f}, {(typed['true_vesicle_snr'] >= 2).sum()} of "
                  f"{len(docked)} at least 2; measured SNR of the disk mean (`docked_snr`) median "
                  f"{docked.median():.1f}, 10th percentile {docked.quantile(0.1):.1f}; origin agreement {right.mean():.1%}, where the vesicle is >= 2x "
                  f"the noise {right[visible].mean():.1%}; "
                  f"release agreement {np.mean(typed['release'] == typed['true_release']):.1%}", "",
                  "origin (rows: truth, columns: found)", "", origin.to_markdown(), "",
                  "release (rows: truth, columns: found)", "", release.to_markdown()]
    (args.output / "validation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
