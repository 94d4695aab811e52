"""Detect exocytosis events in movies: segmentation, events with scores and measurements, pictures.

The whole analysis in one command, for a TIFF folder, a TIFF stack or an HDF5 movie (several
movies, or --batch over the movie folders of a folder). For each movie it writes, beside it:

- {movie.stem}_segmentation.h5: labels (0 background, 1 bright spot, 2 event) as `dataset`,
  with --save_scores also the class probabilities as `scores` [t, 3, y, x];
- {movie.stem}_events.csv: one row per event: t (frame), y, x, cluster_size, score (mean event
  probability) and the measurements (f0, peak_dff, decay_tau, duration, spot_sigma...);
- {movie.stem}_events.xml: the same events as a reference ExoDeepFinder annotation;
- {movie.stem}_events.png: the events over the movie's maximum projection;
- {movie.stem}_gallery.png: crops of the best-scored events, frames t-1 to t+3.

The weights: --model_weights, else $EXODEEPFINDER_WEIGHTS, else the official weights if
`exodeepfinder download-weights` fetched them, else the default model bundled with the package.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..pipeline import DEFAULT_MIN_SIZE, detect_events  # noqa: F401  (re-exported for scripts)
from ._common import (add_device_argument, add_overwrite_argument, check_output, format_path, add_model_arguments,
                      run_command)

NAME = "detect"
BATCH_PATHS = []
#: Movies looked for in each folder with --batch (first found), unless --movie names one.
BATCH_MOVIES = ("movie.h5", "tiff")
#: Movies held in memory up to this size (faster measurements); larger ones are read lazily.
IN_MEMORY_BYTES = 2 * 1024 ** 3

OUTPUTS = {
    "segmentation": "{movie.parent}/{movie.stem}_segmentation.h5",
    "events": "{movie.parent}/{movie.stem}_events.csv",
    "annotation": "{movie.parent}/{movie.stem}_events.xml",
    "figure": "{movie.parent}/{movie.stem}_events.png",
    "gallery": "{movie.parent}/{movie.stem}_gallery.png",
}


def add_arguments(parser):
    parser.add_argument("movies", nargs="*", type=Path,
                        help="movies: .h5 files, TIFF stacks or folders of TIFF frames")
    parser.add_argument("-m", "--movie", default=None,
                        help="with --batch: the movie inside each folder (default: movie.h5, else tiff/)")
    add_model_arguments(parser)
    parser.add_argument("--precision", choices=["fast", "fp32"], default="fast",
                        help="fast: bfloat16/float16 where the hardware has it; fp32: exact reference numbers")
    add_device_argument(parser)
    parser.add_argument("-cr", "--cluster_radius", type=float, default=5, help="clustering radius (voxels)")
    parser.add_argument("--min_size", type=int, default=DEFAULT_MIN_SIZE,
                        help="drop events of fewer voxels (spurious detections are small)")
    parser.add_argument("--min_score", type=float, default=None, help="drop events with a lower mean probability")
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


_LOADED = {}


def _model(args):
    """The network for ``args`` (loaded once, also across --batch folders); say which weights run."""
    from ..model.weights import load_unet, resolve_weights

    path, _ = resolve_weights(args.model_weights)
    key = (str(path), path.stat().st_mtime_ns, args.device)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_unet(args.model_weights, args.device)
    model, device, source = _LOADED[key]
    print(f"weights: {source}; device: {device}", flush=True)
    return model


def _segment_and_find_events(movie, model, outputs, args, name):
    """Segment ``movie`` block by block into a file, then find the events in the file's label map.

    The segmentation (with the class scores the clustering needs) is written to a scratch file
    beside the output, so memory does not grow with the length of the movie; it becomes the
    output (``--save_scores``) or only its labels are copied there.
    """
    import tempfile

    from ..inference import iter_segment
    from ..io.h5 import write_h5
    from ..io.segmentation import open_segmentation, write_segmentation
    from ..pipeline import find_events
    from ..progress import TqdmProgress

    segmentation = outputs["segmentation"]
    segmentation.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{segmentation.stem}.", dir=segmentation.parent) as scratch:
        scratch = Path(scratch) / segmentation.name
        blocks = iter_segment(movie, model, patch_size=args.patch_size, precision=args.precision,
                              return_scores=True, progress=TqdmProgress(f"{name}: segmenting", "patch"))
        write_segmentation(scratch, blocks, movie.shape, save_scores=True)
        labels, scores = open_segmentation(scratch)
        try:
            events = find_events(labels, movie, scores=scores, cluster_radius=args.cluster_radius,
                                 min_size=args.min_size, min_score=args.min_score, offset=args.offset,
                                 progress=TqdmProgress(f"{name}: clustering", "frame"),
                                 measure_progress=TqdmProgress(f"{name}: measuring", "event"))
            if not args.save_scores:
                write_h5(segmentation, labels)
        finally:
            labels.file.close()
        if args.save_scores:
            os.replace(scratch, segmentation)
    return events


def run(args):
    from ..io.events import write_events
    from ..io.figures import save_figure
    from ..io.movie import open_movie
    from ..plots import events_figure, gallery_figure, max_projection

    for movie_path in _movies_to_process(args):
        outputs = {name: check_output(format_path(getattr(args, name), movie=movie_path), args)
                   for name in OUTPUTS if name != "gallery" or args.gallery_size > 0}
        movie = open_movie(movie_path)
        if int(np.prod(movie.shape)) * movie.dtype.itemsize <= IN_MEMORY_BYTES:
            movie = np.asarray(movie[0:movie.shape[0]])
        model = _model(args)
        name = movie_path.name
        try:
            events = _segment_and_find_events(movie, model, outputs, args, name)
        except ValueError as err:
            raise InputError(f"{movie_path}: {err}") from None
        write_events(events, outputs["events"])
        write_events(events, outputs["annotation"])
        save_figure(events_figure(max_projection(movie), events,
                                  f"{name}: {len(events)} events over the maximum projection"), outputs["figure"])
        if "gallery" in outputs:
            save_figure(gallery_figure(movie, events, n_events=args.gallery_size), outputs["gallery"])
        print(f"{movie_path}: {len(events)} events ({'x'.join(map(str, movie.shape))} movie)")
        for key, path in outputs.items():
            print(f"  {key:>12}: {path}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
