"""Detect exocytosis events in movies: segmentation, events with scores and measurements, pictures.

The whole analysis in one command, for a TIFF folder, a TIFF stack, an HDF5 movie or a microscope
file (OME-TIFF, Nikon .nd2, Zeiss .czi, Leica .lif, Micro-Manager, MetaMorph .stk; --channel and
--scene choose in files with several) (several movies, or --batch over the movie folders of a
folder). For each movie it writes, beside it:

- {movie.stem}_segmentation.h5: labels (0 background, 1 bright spot, 2 event) as `dataset`,
  with --save_scores also the class probabilities as `scores` [t, 3, y, x];
- {movie.stem}_events.csv: one row per event: t (frame), y, x, cluster_size, score (0-1: the
  mean event probability, lowered for events that barely rise above the noise or last one
  frame), confidence (with the bundled model: the calibrated probability that the event is real,
  see --min_confidence), probability (the mean event probability) and the measurements (f0,
  peak_dff, peak_snr, decay_ratio, decay_tau, duration, spot_sigma...); when
  the movie file gives its pixel size and frame interval, also t_s, y_um, x_um, decay_tau_s,
  duration_s and spot_sigma_um (seconds and micrometres);
- {movie.stem}_events.xml: the same events as a reference ExoDeepFinder annotation;
- {movie.stem}_events.png: the events over the movie's maximum projection;
- {movie.stem}_gallery.png: crops of the best-scored events, frames t-1 to t+3;
- {movie.stem}_run.json: provenance (version, weights and their sha256, every parameter, the
  pixel size and frame interval used, CPU/GPU, date).

--pixel_size (µm) and --frame_interval (s) override the movie file's; when neither says, a
warning names the flag and the results stay in pixels and frames.

The weights: --model_weights, else $EXODEEPFINDER_WEIGHTS, else the official weights if
`exodeepfinder download-weights` fetched them, else the default model bundled with the package.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..io.units import add_units_arguments, resolve_units, units_options
from ..pipeline import DEFAULT_MIN_SIZE
from ._common import (add_model_arguments, add_movie_format_arguments, add_overwrite_argument, check_output,
                      format_path, load_model_once, movie_format_options, naming_input, network_options, precision_line,
                      run_command)

NAME = "detect"
BATCH_PATHS = []
#: Movies looked for in each folder with --batch (first found), unless --movie names one.
BATCH_MOVIES = ("movie.h5", "tiff")

OUTPUTS = {
    "segmentation": "{movie.parent}/{movie.stem}_segmentation.h5",
    "events": "{movie.parent}/{movie.stem}_events.csv",
    "annotation": "{movie.parent}/{movie.stem}_events.xml",
    "figure": "{movie.parent}/{movie.stem}_events.png",
    "gallery": "{movie.parent}/{movie.stem}_gallery.png",
}
#: The provenance record written beside the results (see :mod:`exodeepfinder.provenance`).
PROVENANCE = "{movie.parent}/{movie.stem}_run.json"


#: The bundled model's calibration (its default threshold and how it was chosen: bench/calibrate.py).
BUNDLED_CALIBRATION = Path(__file__).resolve().parents[1] / "model" / "data" / "exodeepfinder_default.calibration.json"


def min_confidence_help() -> str:
    """--min_confidence's help: the bundled model's default and the figures it was chosen on (read from its JSON)."""
    import json

    text = ("drop events whose confidence (0-1: the calibrated probability that the event is real) is lower; 0 keeps "
            "every event. Default: the calibration's")
    try:
        calibration = json.loads(BUNDLED_CALIBRATION.read_text())
        provenance = calibration["provenance"]
        kept, all_ = provenance["f1_at_default"], provenance["f1_keep_all"]
        text += (f"; for the bundled model {calibration['default_min_confidence']:g}, the threshold that maximises "
                 "the worse of the pooled F1s on calibration movies of two simulators (bench/evalsim: F1 "
                 f"{all_['evalsim']:.2f} -> {kept['evalsim']:.2f}; exodeepfinder.simulation: {all_['ours']:.2f} -> "
                 f"{kept['ours']:.2f}; docs/events.md)")
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return text + ". Weights without a calibration give no confidence column (use --min_score)"


def add_arguments(parser):
    parser.add_argument("movies", nargs="*", type=Path,
                        help="movies: .h5 files, TIFF stacks, folders of TIFF frames or microscope files "
                             "(OME-TIFF, .nd2, .czi, .lif, .stk)")
    parser.add_argument("-m", "--movie", default=None,
                        help="with --batch: the movie inside each folder (default: movie.h5, else tiff/)")
    add_movie_format_arguments(parser)
    add_units_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("-cr", "--cluster_radius", type=float, default=5, help="clustering radius (voxels)")
    parser.add_argument("--min_size", type=int, default=DEFAULT_MIN_SIZE,
                        help="drop events of fewer voxels (spurious detections are small)")
    parser.add_argument("--min_score", type=float, default=None,
                        help="drop events with a lower score (0-1): the mean event probability, lowered for "
                        "events that barely rise above the noise or last one frame")
    parser.add_argument("--min_confidence", type=float, default=None, help=min_confidence_help())
    parser.add_argument("--offset", type=float, default=0.0,
                        help="camera baseline (counts) subtracted before measuring F0 and dF/F0")
    parser.add_argument("--gallery_size", type=int, default=40, help="events shown in the gallery (0: no gallery)")
    parser.add_argument("--save_scores", action="store_true",
                        help="also store the class probabilities in the segmentation file (float16)")
    out = parser.add_argument_group("outputs ({movie.parent}: folder of the movie, {movie.stem}: its name)")
    out.add_argument("-s", "--segmentation", default=OUTPUTS["segmentation"], help="segmentation (.h5)")
    out.add_argument("-e", "--events", default=OUTPUTS["events"], help="events with measurements (.csv)")
    out.add_argument("-a", "--annotation", default=OUTPUTS["annotation"], help="events as reference annotation (.xml)")
    out.add_argument("--figure", default=OUTPUTS["figure"], help="events over the maximum projection (.png)")
    out.add_argument("--gallery", default=OUTPUTS["gallery"], help="event crops (.png)")
    out.add_argument("--provenance", default=PROVENANCE,
                     help="provenance: version, weights sha256, parameters, CPU/GPU, date (.json)")
    add_overwrite_argument(parser)


def _movies_to_process(args) -> list[Path]:
    folder = getattr(args, "batch_folder", None)
    if folder is None:
        if not args.movies:
            raise InputError("give at least one movie (a .h5 file, a TIFF stack or a folder of TIFF frames), "
                             "or --batch FOLDER")
        return list(args.movies)
    if args.movies:
        raise InputError("give either movies or --batch, not both")
    if args.movie:
        return [folder / args.movie]
    for name in BATCH_MOVIES:
        if (folder / name).exists():
            return [folder / name]
    raise InputError(f"{folder}: no movie ({' or '.join(BATCH_MOVIES)}; choose one with --movie)")


def detection_options(args) -> dict:
    """The keyword arguments of :func:`exodeepfinder.pipeline.detect` given on the command line."""
    return dict(save_scores=args.save_scores, cluster_radius=args.cluster_radius, min_size=args.min_size,
                min_score=args.min_score, min_confidence=args.min_confidence, offset=args.offset,
                **network_options(args))


def output_paths(args, movie_path: Path) -> dict:
    """Output file of each kind for ``movie_path``; an error if one exists and --overwrite is not given."""
    names = [name for name in OUTPUTS if name != "gallery" or args.gallery_size > 0]
    paths = {name: check_output(format_path(getattr(args, name), movie=movie_path), args) for name in names}
    seen = {}
    for name, path in paths.items():
        if path.resolve() in seen:
            raise InputError(f"{path}: given for two outputs (--{seen[path.resolve()]} and --{name})")
        seen[path.resolve()] = name
    return paths


def _check_distinct_outputs(args, movies) -> None:
    """InputError when two movies would write the same output (e.g. ``-e events.csv`` for several movies)."""
    names = [name for name in OUTPUTS if name != "gallery" or args.gallery_size > 0]
    owner = {}
    for movie in movies:
        for name in names:
            path = format_path(getattr(args, name), movie=movie)
            key = Path(path).resolve()
            if key in owner and owner[key] != movie:
                raise InputError(f"{path}: --{name} is the same file for {owner[key]} and {movie}; put {{movie.stem}} "
                                 "in its name (e.g. {movie.parent}/{movie.stem}_events.csv)")
            owner[key] = movie


def _check_options(args) -> None:
    if args.cluster_radius <= 0:
        raise InputError(f"--cluster_radius: must be positive, got {args.cluster_radius:g}")
    if args.min_size is not None and args.min_size < 0:
        raise InputError(f"--min_size: must be >= 0, got {args.min_size}")
    if args.min_score is not None and not 0 <= args.min_score <= 1:
        raise InputError(f"--min_score: must be between 0 and 1, got {args.min_score:g}")
    if args.min_confidence is not None and not 0 <= args.min_confidence <= 1:
        raise InputError(f"--min_confidence: must be between 0 and 1, got {args.min_confidence:g}")


def run(args):
    from ..events.calibrate import uncertain_message
    from ..pipeline import detect_file
    from ..progress import TqdmProgress
    from ..provenance import provenance

    from ..io.movie import open_movie

    _check_options(args)
    movies = _movies_to_process(args)
    _check_distinct_outputs(args, movies)
    told = False
    for movie_path in movies:
        outputs = output_paths(args, movie_path)
        with open_movie(movie_path, **movie_format_options(args)) as movie:  # refused before the network loads
            pixel_size, frame_interval = resolve_units(movie_path, movie.metadata, **units_options(args))
        model = load_model_once(args)
        if not told:
            print(precision_line(args, model))
            told = True
        progress = TqdmProgress(f"{movie_path.name}: detecting", unit="%")
        provenance_path = check_output(format_path(args.provenance, movie=movie_path), args)
        parameters = {k: v for k, v in vars(args).items() if not k.startswith("_")}

        def record(events, movie_path=movie_path, pixel_size=pixel_size, frame_interval=frame_interval,
                   model=model, parameters=parameters):
            return provenance("detect", parameters, weights=getattr(model, "weights_path", None), inputs=[movie_path],
                              extra={"pixel_size_um": pixel_size, "frame_interval_s": frame_interval,
                                     "n_events": len(events)})

        with naming_input(movie_path, progress):  # the provenance record is published with the results, together
            events = detect_file(movie_path, outputs, model, gallery_size=args.gallery_size,
                                 overwrite=args.overwrite, progress=progress, **movie_format_options(args),
                                 pixel_size=pixel_size, frame_interval=frame_interval,
                                 provenance=(provenance_path, record), **detection_options(args))
        outputs["provenance"] = provenance_path
        print(f"{movie_path}: {len(events)} events")
        uncertain = uncertain_message(events)
        if uncertain:
            print(f"  {uncertain}")
        for key, path in outputs.items():
            print(f"  {key:>12}: {path}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
