"""Report an experiment: per-cell rates, event types, kinetics and spatial statistics, conditions compared.

From the events `detect` wrote beside each movie. The experiment is a folder
EXPERIMENT/<condition>/<cell>/movie.h5 (with movie_events.csv beside each movie; several movies of
one cell in subfolders of the cell), a CSV sheet with columns movie,condition[,cell,events,mask],
or a single movie. Writes into the output folder (-o):

- report.html: one self-contained page (figures embedded): per-condition summary (dot plots with
  each cell a dot, tests, event types, kinetics), then per cell (mean projection with the mask
  and the events coloured by type, Ripley's L with its envelope of complete spatial randomness,
  hotspot map);
- cells.csv: one row per movie: condition, cell, n_events, area_um2, duration_min,
  events_per_um2_per_min, clustering_p, spacetime_p, docked_fraction, spreading_fraction,
  kinetics medians...;
- events.csv: every event with condition, cell, t, y, x, origin (docked / arrived), release
  (spreading / in_place / unknown), confidences, measurements, inside_mask, analysed;
- summary.csv and tests.csv: per-condition medians with 95 % bootstrap intervals; Mann-Whitney
  tests with rank-biserial effect sizes and ratio intervals (cells as units);
- run.json: provenance (version, every parameter, units of each movie, CPU, date).
Rules and validation: docs/report.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..io.units import add_units_arguments, units_options
from ._common import add_overwrite_argument, check_output, publish, run_command

NAME = "report"
BATCH_PATHS = None  # --batch names the whole experiment (conditions and cells), not folders to loop over
#: Files written into the report folder.
REPORT_FILES = ("report.html", "cells.csv", "events.csv", "summary.csv", "tests.csv", "run.json")


def add_arguments(parser):
    parser.add_argument("source", nargs="?", type=Path, default=None,
                        help="a movie, an experiment folder or a CSV sheet movie,condition (or use --batch)")
    parser.add_argument("-b", "--batch", dest="experiment", type=Path, default=None,
                        help="the experiment: EXPERIMENT/<condition>/<cell>/movie.h5, or a CSV sheet")
    parser.add_argument("-o", "--output", type=Path, default=Path("report"), help="report folder (created)")
    parser.add_argument("-e", "--events", default="{movie.parent}/{movie.stem}_events.csv",
                        help="each movie's events ({movie.parent}: its folder, {movie.stem}: its name)")
    parser.add_argument("--mask", default=None,
                        help="each movie's cell mask (TIFF/PNG/npy label image, e.g. {movie.parent}/cell_mask.tif); "
                             "default: found automatically in the movie")
    add_units_arguments(parser)
    parser.add_argument("--min_score", type=float, default=None, help="leave out events with a lower score (0-1)")
    parser.add_argument("--offset", type=float, default=0.0,
                        help="camera baseline (counts), for events that still need measuring")
    parser.add_argument("--border", type=int, default=6,
                        help="band (px) along the frame's edges left out of the analysed area")
    parser.add_argument("--n_simulations", type=int, default=199,
                        help="patterns of complete spatial randomness in the clustering test")
    parser.add_argument("--docked_snr", type=float, default=3.0,
                        help="a vesicle this many times the noise before the rise makes an event 'docked'")
    parser.add_argument("--spread_ratio", type=float, default=1.10,
                        help="widening of the cloud after the peak that makes an event 'spreading'")
    parser.add_argument("--no_cell_figures", action="store_true", help="leave out the figure of each cell")
    parser.add_argument("-j", "--jobs", type=int, default=None,
                        help="movies analysed at once, in as many processes (default: one per CPU core)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the Monte-Carlo tests and bootstraps")
    add_overwrite_argument(parser)


def _check(args) -> Path:
    if (args.source is None) == (args.experiment is None):
        raise InputError("give one movie, experiment folder or sheet (or --batch EXPERIMENT), not "
                         + ("none" if args.source is None else "both"))
    if args.n_simulations < 19:
        raise InputError(f"--n_simulations: at least 19 (p-values down to 0.05), got {args.n_simulations}")
    if args.jobs is not None and args.jobs < 1:
        raise InputError(f"--jobs: must be at least 1, got {args.jobs}")
    if args.border < 0:
        raise InputError(f"--border: must be >= 0, got {args.border}")
    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise InputError(f"--min_score: must be between 0 and 1, got {args.min_score:g}")
    if args.spread_ratio <= 1:
        raise InputError(f"--spread_ratio: must be above 1, got {args.spread_ratio:g}")
    if args.output.exists() and not args.output.is_dir():
        raise InputError(f"{args.output}: exists and is not a folder")
    return args.experiment if args.experiment is not None else args.source


def run(args):
    from ..analysis.conditions import compare_conditions, summarise_conditions
    from ..analysis.experiment import analyse_experiment, find_movies
    from ..analysis.report import report_html
    from ..io.tables import write_csv
    from ..progress import TqdmProgress
    from ..provenance import provenance, write_provenance

    source = _check(args)
    units = units_options(args)
    paths = {name: check_output(args.output / name, args) for name in REPORT_FILES}
    movies = find_movies(source, events=args.events, mask=args.mask)
    print(f"{source}: {len(movies)} movie(s) of {movies[['condition', 'cell']].drop_duplicates().shape[0]} cell(s) "
          f"in {movies['condition'].nunique()} condition(s)", flush=True)
    progress = TqdmProgress("analysing", unit="%")
    try:
        experiment = analyse_experiment(
            movies, **units, min_score=args.min_score, offset=args.offset, border=args.border,
            n_simulations=args.n_simulations, progress=progress, figures=not args.no_cell_figures, jobs=args.jobs,
            type_options=dict(docked_snr=args.docked_snr, spread_ratio=args.spread_ratio))
    finally:
        progress.close()
    summary = summarise_conditions(experiment.cells, seed=args.seed)
    tests = compare_conditions(experiment.cells, seed=args.seed)
    parameters = {k: v for k, v in vars(args).items() if not k.startswith("_")}
    record = provenance("report", parameters, inputs=[str(p) for p in movies["movie"]],
                        extra={"movies": [dict(movie=str(m), pixel_size_um=u[0], frame_interval_s=u[1])
                                          for m, u in zip(movies["movie"], experiment.units)]})
    page = report_html(experiment, summary, tests, title=f"Exocytosis report: {Path(source).name}",
                       provenance=record, cell_figures=not args.no_cell_figures)
    args.output.mkdir(parents=True, exist_ok=True)
    with publish(args, paths) as temporary:
        Path(temporary["report.html"]).write_text(page, encoding="utf-8")
        write_csv(experiment.cells, temporary["cells.csv"])
        write_csv(experiment.events, temporary["events.csv"])
        write_csv(summary, temporary["summary.csv"])
        write_csv(tests, temporary["tests.csv"])
        write_provenance(record, temporary["run.json"])
    for _, row in tests[tests["note"].astype(str) != ""].drop_duplicates("note").iterrows():
        print(f"note: {row['note']}")
    rates = experiment.cells.groupby("condition", sort=False)["events_per_um2_per_min"].median()
    for condition, rate in rates.items():
        print(f"  {condition or 'all cells'}: median {rate:.3g} events / µm² / min")
    print(f"wrote {args.output}/: " + ", ".join(REPORT_FILES))


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
