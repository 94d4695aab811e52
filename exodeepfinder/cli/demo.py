"""Try ExoDeepFinder in one command: simulate a movie, detect its events, compare with the truth.

Simulates a small TIRF movie with known exocytosis events (`exodeepfinder simulate`), runs the
detection (`exodeepfinder detect`) with the default weights, matches the detected events to the
simulated ones (one to one, within --tolerance voxels) and prints precision, recall and F1 and
where the outputs are. Takes about a minute on a laptop CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import (add_model_arguments, add_overwrite_argument, build_parser, check_output, load_model_once,
                      precision_line, run_command)

NAME = "demo"
BATCH_PATHS = None


def add_arguments(parser):
    parser.add_argument("-o", "--output", type=Path, default=Path("exodeepfinder_demo"),
                        help="folder for the simulated movie and the detection outputs")
    parser.add_argument("--shape", type=int, nargs=3, default=[100, 128, 128], metavar=("FRAMES", "HEIGHT", "WIDTH"),
                        help="size of the simulated movie")
    parser.add_argument("--n_events", type=int, default=15, help="simulated exocytosis events")
    parser.add_argument("--seed", type=int, default=2024, help="random seed of the simulation")
    add_model_arguments(parser)
    parser.add_argument("--tolerance", type=float, default=5, help="largest distance (voxels) of a match")
    add_overwrite_argument(parser)


def run(args):
    from ..events.evaluate import match_events
    from ..io.tables import write_csv
    from ..pipeline import detect_file
    from ..progress import TqdmProgress
    from ..simulation import simulate_to_folder
    from . import detect

    if min(args.shape) < 1:
        raise InputError(f"--shape: frames, height and width must be at least 1, got {' '.join(map(str, args.shape))}")
    if args.n_events < 0:
        raise InputError(f"--n_events: must be >= 0, got {args.n_events}")
    if args.tolerance < 0:
        raise InputError(f"--tolerance: must be >= 0, got {args.tolerance:g}")
    folder = args.output
    movie_path = folder / "movie.h5"
    # detect's own defaults, so that the demo shows what `exodeepfinder detect` does
    detect_args = build_parser(detect).parse_args([str(movie_path)])
    for name in ("model_weights", "patch_size", "device", "precision", "backend", "tiling", "max_memory", "overwrite"):
        setattr(detect_args, name, getattr(args, name))
    outputs = detect.output_paths(detect_args, movie_path)
    evaluation = check_output(folder / "evaluation.csv", args)

    print(f"1/3 simulating a {' x '.join(map(str, args.shape))} movie with {args.n_events} events "
          f"(seed {args.seed}) in {folder}", flush=True)
    simulation = simulate_to_folder(folder, args.shape, args.seed, dict(n_events=args.n_events),
                                    overwrite=args.overwrite, progress=TqdmProgress("simulating", "frame"))
    detect_args.offset = float(simulation.params["offset"])

    model = load_model_once(detect_args)
    print(f"2/3 detecting events, {precision_line(detect_args, model)}", flush=True)
    progress = TqdmProgress("detecting", unit="%")
    try:
        detected = detect_file(movie_path, outputs, model, gallery_size=detect_args.gallery_size,
                               overwrite=args.overwrite, progress=progress, **detect.detection_options(detect_args))
    finally:
        progress.close()

    matching = match_events(detected, simulation.events, tolerance=args.tolerance)
    write_csv(matching.table(detected, simulation.events), evaluation, overwrite=args.overwrite)
    summary = matching.summary
    print(f"3/3 evaluation against the simulated truth (tolerance {args.tolerance:g} voxels):")
    print(f"  {summary['tp']} true positives, {summary['fp']} false positives, {summary['fn']} missed "
          f"of {len(simulation.events)} events")
    print(f"  precision {summary['precision']:.3f}  recall {summary['recall']:.3f}  F1 {summary['f1']:.3f}")
    print(f"outputs in {folder}/: movie.h5 (the movie), expert_annotation.xml (the truth), "
          + ", ".join(path.name for path in outputs.values()) + f", {evaluation.name}")
    return summary


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
