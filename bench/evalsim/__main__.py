"""Command line of the evaluation simulator.

Run from the repository root::

    python -m bench.evalsim families
    python -m bench.evalsim show -o families.png [--family default dim] [--seed 0]
    python -m bench.evalsim generate --family default dim --n 4 --seed 900000 -o /work/runs/evalsim/movies

``generate`` writes ``DIR/<family>_<seed>/`` for seeds ``S .. S + N - 1`` of each family, each
holding ``movie.h5``, ``truth.csv``, ``expert_annotation.xml``, ``mask.tif``, ``objects.csv.gz``
and ``metadata.json`` (see :func:`bench.evalsim.folder.write_folder`); ``--family all`` takes
every family. Seeds 900000 and up are the held-out test movies, 800000-899999 the calibration
ones (:mod:`bench.evalsim.seeds`): never train on either.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .families import FAMILIES
from .folder import write_folder
from .simulate import DEFAULT_EVENTS, DEFAULT_SHAPE, simulate


def _parser():
    parser = argparse.ArgumentParser(prog="python -m bench.evalsim", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("families", help="list the families")
    generate = commands.add_parser("generate", help="write movie folders with their truth")
    generate.add_argument("--family", nargs="+", required=True, choices=[*FAMILIES, "all"], metavar="NAME",
                          help=f"families ({', '.join(FAMILIES)}, or all)")
    generate.add_argument("--n", type=int, default=1, help="movies per family")
    generate.add_argument("--seed", type=int, default=0, help="seed of the first movie")
    generate.add_argument("-o", "--output", type=Path, required=True, help="folder to write the movie folders in")
    generate.add_argument("--shape", type=int, nargs=3, default=list(DEFAULT_SHAPE), metavar=("T", "Y", "X"))
    generate.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="events per movie")
    generate.add_argument("--overwrite", action="store_true", help="replace existing movie folders")
    show = commands.add_parser("show", help="a picture of the families: a frame, events and distractors")
    show.add_argument("--family", nargs="+", default=["all"], choices=[*FAMILIES, "all"], metavar="NAME")
    show.add_argument("--seed", type=int, default=0)
    show.add_argument("-o", "--output", type=Path, required=True, help="PNG file")
    return parser


def main(argv=None) -> int:
    """Run the command line (``argv`` without the program name); return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "families":
        for family in FAMILIES.values():
            print(f"{family.name:14s} {family.description}")
        return 0
    families = list(FAMILIES) if "all" in args.family else args.family
    if args.command == "show":
        from .figure import family_figure

        family_figure([simulate(family, args.seed) for family in families]).savefig(args.output, dpi=80)
        print(args.output)
        return 0
    if args.n < 1 or args.seed < 0:
        print("error: --n must be >= 1 and --seed >= 0", file=sys.stderr)
        return 2
    try:
        for family in families:
            for seed in range(args.seed, args.seed + args.n):
                folder = args.output / f"{family}_{seed}"
                sim = simulate(family, seed, shape=args.shape, n_events=args.events)
                write_folder(sim, folder, overwrite=args.overwrite)
                print(f"{folder}: {sim.movie.shape[0]} frames, {len(sim.events)} events")
    except (FileExistsError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
