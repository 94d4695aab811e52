"""Try ExoDeepFinder in one command: simulate a movie, detect its events, compare with the truth.

Simulates a small TIRF movie with known exocytosis events (`exodeepfinder simulate`), runs the
detection (`exodeepfinder detect`) with the default weights, matches the detected events to the
simulated ones (one to one, within --tolerance voxels) and prints precision, recall and F1 and
where the outputs are. Takes about a minute on a laptop CPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import add_device_argument, add_overwrite_argument, add_model_arguments, build_parser, run_command

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
    add_device_argument(parser)
    add_overwrite_argument(parser)


def run(args):
    from ..events.evaluate import match_events
    from ..io.events import read_events
    from ..io.tables import write_csv
    from . import detect, simulate

    folder = args.output
    print(f"1/3 simulating a {' x '.join(map(str, args.shape))} movie with {args.n_events} events "
          f"(seed {args.seed}) in {folder}", flush=True)
    options = dict(n_events=args.n_events)
    simulation = simulate.simulate_to_folder(folder, args.shape, args.seed, options, overwrite=args.overwrite)

    print("2/3 detecting events", flush=True)
    # through detect's own parser, so that the demo runs with detect's defaults
    argv = [str(folder / "movie.h5"), "--patch_size", str(args.patch_size), "--device", args.device,
            f"--offset={float(simulation.params['offset'])}"]
    argv += ["--model_weights", str(args.model_weights)] if args.model_weights is not None else []
    argv += ["--overwrite"] if args.overwrite else []
    detect.run(build_parser(detect).parse_args(argv))

    detected = read_events(folder / "movie_events.csv")
    matching = match_events(detected, simulation.events, tolerance=args.tolerance)
    write_csv(matching.table(detected, simulation.events), folder / "evaluation.csv")
    summary = matching.summary
    print(f"3/3 evaluation against the simulated truth (tolerance {args.tolerance:g} voxels):")
    print(f"  {summary['tp']} true positives, {summary['fp']} false positives, {summary['fn']} missed "
          f"of {len(simulation.events)} events")
    print(f"  precision {summary['precision']:.3f}  recall {summary['recall']:.3f}  F1 {summary['f1']:.3f}")
    print(f"outputs in {folder}/: movie.h5 (the movie), expert_annotation.xml (the truth), movie_events.csv "
          "(detections with measurements), movie_events.png, movie_gallery.png, evaluation.csv")
    return summary


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
