"""Simulate TIRF movies of exocytosis with their ground truth, laid out like a user's movie folder.

Writes into the output folder: movie.h5 (the movie, uint16), expert_annotation.xml and
expert_annotation.csv (the fusion events as an expert annotation: class_label 1, z = frame of
the rise), spots.csv (every visible docked vesicle and distractor, one row per frame) and
simulation.json (the parameters and seed); with --tiff also tiff/frame_0001.tif ... With
--n_movies N, N such folders movie_01, movie_02... (seeds seed, seed+1...), ready for
detect_spots, merge_detector_expert and structure_training_dataset --batch.
Units: pixels (160 nm) and frames (0.3 s).
"""

from __future__ import annotations

import inspect
import json
import sys
from types import SimpleNamespace
from pathlib import Path

from ..errors import InputError
from ._common import add_overwrite_argument, check_output, run_command

NAME = "simulate"
BATCH_PATHS = None

OUTPUT_FILES = ("movie.h5", "expert_annotation.xml", "expert_annotation.csv", "spots.csv", "simulation.json")
_NOT_OPTIONS = ("shape", "seed", "progress")


def _parameter_help() -> dict:
    """Help text of each simulate_movie parameter, from its numpydoc docstring."""
    from ..simulation.simulate import simulate_movie

    doc = inspect.getdoc(simulate_movie)
    section = doc.split("Parameters\n----------\n", 1)[1].split("\n\nReturns", 1)[0]
    helps, names, lines = {}, [], []
    for line in section.splitlines() + [""]:
        if line and not line.startswith(" "):
            for name in names:
                helps[name] = " ".join(lines)
            names, lines = [n.strip() for n in line.split(":")[0].split(",")], []
        elif line.strip():
            lines.append(line.strip())
    for name in names:
        helps[name] = " ".join(lines)
    return helps


def add_arguments(parser):
    from ..simulation.simulate import simulate_movie

    parser.add_argument("-o", "--output", type=Path, default=Path("simulated_movie"),
                        help="output folder (created); with --n_movies, the folder of the movie folders")
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 128, 128], metavar=("FRAMES", "HEIGHT", "WIDTH"),
                        help="movie size")
    parser.add_argument("--n_movies", type=int, default=1, help="number of movies (subfolders movie_01...)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (movie i uses seed + i)")
    parser.add_argument("--tiff", action="store_true", help="also write the frames as tiff/frame_0001.tif ...")
    add_overwrite_argument(parser)
    helps = _parameter_help()
    simulator = parser.add_argument_group("simulation parameters (see docs/simulate_detect.md)")
    for name, parameter in inspect.signature(simulate_movie).parameters.items():
        if name in _NOT_OPTIONS:
            continue
        default = parameter.default
        if isinstance(default, tuple):
            kind = int if all(isinstance(v, int) for v in default) else float
            simulator.add_argument(f"--{name}", type=kind, nargs=2, default=list(default), metavar=("LOW", "HIGH"),
                                   help=helps.get(name, ""))
        else:
            kind = int if isinstance(default, int) else float
            simulator.add_argument(f"--{name}", type=kind, default=default, help=helps.get(name, ""))


def _simulation_options(args) -> dict:
    from ..simulation.simulate import simulate_movie

    options = {}
    for name, parameter in inspect.signature(simulate_movie).parameters.items():
        if name in _NOT_OPTIONS:
            continue
        value = getattr(args, name)
        options[name] = tuple(value) if isinstance(parameter.default, tuple) else value
    return options


def _write_tiff_folder(folder: Path, movie, overwrite: bool, progress=None) -> None:
    """Write one TIFF per frame into ``folder`` (frame_0001.tif ...), all or nothing."""
    import shutil
    import tempfile

    import tifffile

    from ..progress import report

    digits = max(4, len(str(len(movie))))
    tmp = Path(tempfile.mkdtemp(prefix=".tiff.", dir=folder.parent))
    try:
        for index, frame in enumerate(movie, start=1):
            tifffile.imwrite(tmp / f"frame_{index:0{digits}d}.tif", frame)
            report(progress, index, len(movie))
        if folder.exists() and overwrite:
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def simulate_to_folder(folder: Path, shape, seed: int, options: dict, *, tiff: bool = False,
                       overwrite: bool = False, quiet: bool = False):
    """Simulate one movie and write it with its truth into ``folder``; return the Simulation."""
    from ..io.atomic import atomic_output
    from ..io.events import write_events
    from ..io.h5 import write_h5
    from ..io.tables import write_csv
    from ..progress import TqdmProgress
    from ..simulation import simulate_movie

    for name in OUTPUT_FILES + (("tiff",) if tiff else ()):
        check_output(folder / name, SimpleNamespace(overwrite=overwrite))
    try:
        simulation = simulate_movie(tuple(shape), seed=seed, **options,
                                    progress=None if quiet else TqdmProgress(f"{folder.name}: simulating", "frame"))
    except ValueError as err:
        raise InputError(str(err)) from None
    folder.mkdir(parents=True, exist_ok=True)
    write_h5(folder / "movie.h5", simulation.movie)
    write_events(simulation.events, folder / "expert_annotation.xml")
    write_events(simulation.events, folder / "expert_annotation.csv")
    write_csv(simulation.spots, folder / "spots.csv")
    with atomic_output(folder / "simulation.json") as tmp:
        record = {"shape": list(shape), "seed": seed,
                  **{k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
                  "n_event_rows": len(simulation.events), "n_spot_rows": len(simulation.spots)}
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    if tiff:
        _write_tiff_folder(folder / "tiff", simulation.movie, overwrite,
                           None if quiet else TqdmProgress(f"{folder.name}: writing TIFF frames", "frame"))
    return simulation


def run(args):
    if args.n_movies < 1:
        raise InputError(f"--n_movies: must be at least 1 (got {args.n_movies})")
    if min(args.shape) < 1:
        raise InputError(f"--shape: sizes must be positive (got {' '.join(map(str, args.shape))})")
    options = _simulation_options(args)
    if args.n_movies == 1:
        folders = [args.output]
    else:
        digits = max(2, len(str(args.n_movies)))
        folders = [args.output / f"movie_{i + 1:0{digits}d}" for i in range(args.n_movies)]
    for i, folder in enumerate(folders):
        simulation = simulate_to_folder(folder, args.shape, args.seed + i, options, tiff=args.tiff,
                                        overwrite=args.overwrite)
        kinds = simulation.spots.drop_duplicates("spot_id")["kind"].value_counts()
        spots = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        print(f"wrote {folder}: {' x '.join(map(str, args.shape))} movie, {len(simulation.events)} events, "
              f"spots: {spots or 'none'} (seed {args.seed + i})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
