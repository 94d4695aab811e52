"""Simulate TIRF movies of exocytosis with their ground truth, laid out like a user's movie folder.

Writes into the output folder: movie.h5 (the movie, uint16), expert_annotation.xml and
expert_annotation.csv (the fusion events as an expert annotation: class_label 1, z = frame of
the rise), spots.csv (every visible docked vesicle and distractor, one row per frame) and
simulation.json (the parameters and seed); with --tiff also tiff/frame_0001.tif ... With
--n_movies N, N such folders movie_01, movie_02... (seeds seed, seed+1...), ready for
detect_spots, merge_detector_expert and structure_training_dataset --batch.
With --randomize, each movie's parameters are drawn from ranges (domain randomisation:
brightness, spot size, kinetics, distractors, camera...); --range NAME LOW HIGH changes a range,
and a simulation flag given on the command line fixes that parameter.
Units: pixels (160 nm) and frames (0.3 s) by default (--pixel_size, --frame_interval; stored
in movie.h5), the true cell in cell_mask.tif. With --experiment, an experiment for `exodeepfinder
report`: OUTPUT/<condition>/cell_01/... for each of --conditions, --n_cells cells each, the other
conditions differing by --rate_effect (on --event_rate, events per µm² per minute) and
--condition_hotspots (repeated fusions at a few sites).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from types import SimpleNamespace

from ..errors import InputError
from ._common import add_overwrite_argument, check_output, run_command

NAME = "simulate"
BATCH_PATHS = None

_NOT_OPTIONS = ("shape", "seed", "progress")


def __getattr__(name):
    # the folder writer lives in the library; `simulate_to_folder` stays importable from here
    if name == "simulate_to_folder":
        from ..simulation.folder import simulate_to_folder

        return simulate_to_folder
    raise AttributeError(name)


class _StoreGiven(argparse.Action):
    """Store the value and remember that the flag was given (with --randomize it fixes the parameter)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given = getattr(namespace, "given", set()) | {self.dest}


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
    return {name: text.replace("%", "%%") for name, text in helps.items()}  # argparse formats help with %


def _ranges_help() -> str:
    from ..simulation.randomize import DEFAULT_RANGES, DISTRACTOR_RANGES

    spans = [f"{name} {' '.join(span)}" if name == "camera" else f"{name} {span[0]:g} {span[1]:g}"
             for name, span in DEFAULT_RANGES.items()]
    optional = [f"{name} {span[0]:g} {span[1]:g}" for name, span in DISTRACTOR_RANGES.items()]
    return ("with --randomize: the range of a drawn setting, e.g. --range event_amplitude 100 500, --range drift 0 "
            "(one value fixes it), --range camera scmos emccd (the cameras to choose from); repeat for several "
            "settings. Settings and default ranges (see docs/simulate_detect.md): " + "; ".join(spans)
            + ". Drawn only when named (artefacts of real movies; suggested ranges): " + "; ".join(optional))


def add_arguments(parser):
    from ..simulation.simulate import CAMERAS, simulate_movie

    parser.add_argument("-o", "--output", type=Path, default=Path("simulated_movie"),
                        help="output folder (created); with --n_movies, the folder of the movie folders")
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 128, 128], metavar=("FRAMES", "HEIGHT", "WIDTH"),
                        help="movie size")
    parser.add_argument("--n_movies", type=int, default=1, help="number of movies (subfolders movie_01...)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (movie i uses seed + i)")
    parser.add_argument("--tiff", action="store_true", help="also write the frames as tiff/frame_0001.tif ...")
    parser.add_argument("--randomize", action="store_true",
                        help="draw each movie's parameters from ranges (domain randomisation); simulation flags "
                             "given on the command line stay fixed")
    experiment = parser.add_argument_group(
        "a simulated experiment for `exodeepfinder report` (OUTPUT/<condition>/cell_01/movie.h5 ...)")
    experiment.add_argument("--experiment", action="store_true",
                            help="lay out an experiment: --n_cells cells in each of --conditions")
    experiment.add_argument("--conditions", nargs="+", default=["control", "treated"], metavar="NAME",
                            help="with --experiment: condition names (the first is the reference)")
    experiment.add_argument("--n_cells", type=int, default=6, help="with --experiment: cells per condition")
    experiment.add_argument("--rate_effect", type=float, default=1.0,
                            help="with --experiment: the other conditions' event_rate is this times the first's")
    experiment.add_argument("--condition_hotspots", type=int, default=None,
                            help="with --experiment: hotspots in the other conditions (a spatial effect)")
    experiment.add_argument("--cell_variation", type=float, default=0.2,
                            help="with --experiment: cell-to-cell variation of the rate (log-normal sd)")
    parser.add_argument("--range", dest="ranges", action="append", nargs="+", metavar=("NAME", "VALUE"),
                        default=None, help=_ranges_help())
    add_overwrite_argument(parser)
    helps = _parameter_help()
    simulator = parser.add_argument_group("simulation parameters (see docs/simulate_detect.md)")
    for name, parameter in inspect.signature(simulate_movie).parameters.items():
        if name in _NOT_OPTIONS:
            continue
        default = parameter.default
        if isinstance(default, str):
            simulator.add_argument(f"--{name}", action=_StoreGiven, choices=CAMERAS, default=default,
                                   help=helps.get(name, ""))
        elif isinstance(default, tuple):
            kind = int if all(isinstance(v, int) for v in default) else float
            simulator.add_argument(f"--{name}", action=_StoreGiven, type=kind, nargs=2, default=list(default),
                                   metavar=("LOW", "HIGH"), help=helps.get(name, ""))
        else:
            kind = int if isinstance(default, int) else float
            simulator.add_argument(f"--{name}", action=_StoreGiven, type=kind, default=default,
                                   help=helps.get(name, ""))


def _simulation_options(args) -> dict:
    """The simulate_movie arguments of ``args``: all of them, or with --randomize those given."""
    from ..simulation.simulate import simulate_movie

    options = {}
    for name, parameter in inspect.signature(simulate_movie).parameters.items():
        if name in _NOT_OPTIONS or (args.randomize and name not in getattr(args, "given", ())):
            continue
        value = getattr(args, name)
        options[name] = tuple(value) if isinstance(parameter.default, tuple) else value
    return options


def _parse_ranges(entries) -> dict | None:
    """``--range NAME VALUE...`` entries as the ``ranges`` of simulate_randomized (checked)."""
    from ..simulation.randomize import check_ranges

    if not entries:
        return None
    ranges = {}
    for name, *values in entries:
        if name != "camera":
            try:
                values = [float(v) for v in values]
            except ValueError:
                raise InputError(f"--range {name}: expected numbers (got {' '.join(values)})") from None
            if len(values) not in (1, 2):
                raise InputError(f"--range {name}: expected LOW HIGH or one value (got {len(values)} values)")
        ranges[name] = values[0] if len(values) == 1 else tuple(values)
    try:
        check_ranges(ranges)
    except ValueError as err:
        raise InputError("--range: " + str(err).removeprefix("ranges: ")) from None
    return ranges


def _as_flag(err: InputError) -> InputError:
    """A simulator error that names a parameter, reworded to name its flag."""
    from ..simulation.simulate import simulate_movie

    name = str(err).split(":", 1)[0]
    if name in inspect.signature(simulate_movie).parameters and name not in ("progress",):
        return InputError(f"--{err}")
    return err


def movie_folders(output: Path, n_movies: int) -> list[Path]:
    """The folders ``simulate -o output --n_movies n_movies`` writes: ``output`` itself for one
    movie, else ``output/movie_01``... (seeds seed, seed + 1...)."""
    if n_movies == 1:
        return [Path(output)]
    digits = max(2, len(str(n_movies)))
    return [Path(output) / f"movie_{i + 1:0{digits}d}" for i in range(n_movies)]


def run(args):
    from ..progress import TqdmProgress
    from ..simulation.folder import OUTPUT_FILES, simulate_to_folder

    if args.n_movies < 1:
        raise InputError(f"--n_movies: must be at least 1 (got {args.n_movies})")
    if min(args.shape) < 1:
        raise InputError(f"--shape: sizes must be positive (got {' '.join(map(str, args.shape))})")
    if args.ranges and not args.randomize:
        raise InputError("--range: needs --randomize")
    ranges = _parse_ranges(args.ranges)
    options = _simulation_options(args)
    if args.experiment:
        return _run_experiment(args, options)
    folders = movie_folders(args.output, args.n_movies)
    for folder in folders:  # every existing output is reported before any work
        for name in OUTPUT_FILES + (("tiff",) if args.tiff else ()):
            check_output(folder / name, SimpleNamespace(overwrite=args.overwrite))
    for i, folder in enumerate(folders):
        try:
            simulation = simulate_to_folder(folder, args.shape, args.seed + i, options, randomize=args.randomize,
                                            ranges=ranges, tiff=args.tiff, overwrite=args.overwrite,
                                            progress=TqdmProgress(f"{folder.name}: simulating", "%"))
        except InputError as err:
            raise _as_flag(err) from None
        kinds = simulation.spots.drop_duplicates("spot_id")["kind"].value_counts()
        spots = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
        drawn = ""
        if args.randomize:
            p = simulation.params
            drawn = (f"; drawn: {p['camera']} camera, event amplitude {p['event_amplitude']:.0f}, background "
                     f"{p['background']:.0f}, sigma {p['event_sigma']:.2f} px, tau {p['event_tau'][0]:.1f}-"
                     f"{p['event_tau'][1]:.1f} frames")
        print(f"wrote {folder}: {' x '.join(map(str, args.shape))} movie, {len(simulation.events)} events, "
              f"spots: {spots or 'none'} (seed {args.seed + i}){drawn}")


def _run_experiment(args, options):
    from ..progress import TqdmProgress
    from ..simulation.experiment import experiment_folders, simulate_experiment
    from ..simulation.folder import OUTPUT_FILES

    if args.randomize:
        raise InputError("--experiment: not with --randomize")
    if args.n_cells < 1:
        raise InputError(f"--n_cells: must be at least 1 (got {args.n_cells})")
    if len(set(args.conditions)) != len(args.conditions):
        raise InputError(f"--conditions: names must differ (got {' '.join(args.conditions)})")
    if args.rate_effect <= 0:
        raise InputError(f"--rate_effect: must be positive (got {args.rate_effect:g})")
    for _, folder in experiment_folders(args.output, args.conditions, args.n_cells):
        for name in OUTPUT_FILES:
            check_output(folder / name, SimpleNamespace(overwrite=args.overwrite))
    progress = TqdmProgress("simulating the experiment", "%")
    try:
        results = simulate_experiment(args.output, args.shape, args.seed, options, conditions=args.conditions,
                                      n_cells=args.n_cells, rate_effect=args.rate_effect,
                                      hotspots=args.condition_hotspots, cell_variation=args.cell_variation,
                                      overwrite=args.overwrite, progress=progress)
    except InputError as err:
        raise _as_flag(err) from None
    finally:
        progress.close()
    for condition in args.conditions:
        counts = [len(sim.events) for c, _, sim in results if c == condition]
        print(f"wrote {args.output / condition}: {len(counts)} cells, {sum(counts)} events "
              f"({min(counts)}-{max(counts)} per cell)")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
