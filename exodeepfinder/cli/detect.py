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

import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._common import add_device_argument, add_overwrite_argument, check_output, format_path, run_command

NAME = "detect"
BATCH_PATHS = []
#: Movies looked for in each folder with --batch (first found), unless --movie names one.
BATCH_MOVIES = ("movie.h5", "tiff")
#: Movies held in memory up to this size (faster measurements); larger ones are read lazily.
IN_MEMORY_BYTES = 2 * 1024 ** 3
DEFAULT_MIN_SIZE = 10

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
    parser.add_argument("-mw", "--model_weights", type=Path, default=None,
                        help="network weights (.h5); default: see above")
    parser.add_argument("-ps", "--patch_size", type=int, default=160, help="patch size (multiple of 4)")
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


# -- the analysis (no file I/O) ------------------------------------------------------------------
def detect_events(movie, model, *, patch_size=160, precision="fast", cluster_radius=5, min_size=DEFAULT_MIN_SIZE,
                  min_score=None, offset=0.0, return_scores=False, progress=None, measure_progress=None):
    """Segment a movie, cluster its event voxels into events, and measure each event.

    Returns
    -------
    labels : ndarray of int8 (t, y, x)
    events : DataFrame
        ``t, y, x, class_label, cluster_size, obj_id, score`` and the measurement columns of
        :func:`exodeepfinder.events.measure.measure_events`.
    scores : ndarray of float16 (t, 3, y, x), only with ``return_scores``
    """
    from ..events.cluster import cluster_events
    from ..events.measure import measure_events
    from ..inference import segment_movie

    labels, scores = segment_movie(movie, model, patch_size=patch_size, precision=precision, return_scores=True,
                                   progress=progress)
    events = cluster_events(labels, cluster_radius, scores=scores, min_size=min_size, min_score=min_score)
    events = measure_events(movie, events, offset=offset, progress=measure_progress)
    return (labels, events, scores) if return_scores else (labels, events)


def max_projection(movie, block: int = 64) -> np.ndarray:
    """Maximum over frames, read block of frames by block of frames."""
    projection = None
    for start in range(0, movie.shape[0], block):
        frames = np.asarray(movie[start:start + block]).max(axis=0)
        projection = frames if projection is None else np.maximum(projection, frames)
    return projection


def _display_range(image):
    low, high = np.percentile(image, (1, 99.8))
    return float(low), float(max(high, low + 1))


def events_figure(projection, events, title=""):
    """A matplotlib Figure: the events (circles coloured by score or frame) over ``projection``."""
    from matplotlib.figure import Figure

    height, width = projection.shape
    scale = 8.0 / max(height, width)
    figure = Figure(figsize=(max(width * scale, 3) + 1.2, max(height * scale, 3) + 0.6), dpi=150)
    axes = figure.add_subplot()
    low, high = _display_range(projection)
    axes.imshow(projection, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    if len(events):
        by_score = "score" in events.columns and events["score"].notna().any()
        values = events["score"] if by_score else events["t"]
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        norm = Normalize(float(values.min()), float(max(values.max(), values.min() + 1e-6)))
        colours = colormaps["autumn"](norm(values.to_numpy(float)))
        axes.scatter(events["x"], events["y"], s=60, facecolors="none", edgecolors=colours, linewidths=1.0)
        bar = figure.colorbar(ScalarMappable(norm, "autumn"), ax=axes, fraction=0.04, pad=0.02)
        bar.set_label("event score" if by_score else "frame")
    axes.set_title(title or f"{len(events)} events over the maximum projection", fontsize=9)
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(height - 0.5, -0.5)
    axes.set_axis_off()
    figure.tight_layout()
    return figure


def gallery_figure(movie, events, *, n_events=40, half_width=8, frames=(-1, 0, 1, 2, 3), columns=4):
    """A matplotlib Figure: for the best-scored events, a strip of crops at frames ``t + frames``."""
    from matplotlib.figure import Figure

    if "score" in events.columns:
        chosen = events.sort_values("score", ascending=False, kind="stable").head(n_events)
    else:
        chosen = events.head(n_events)
    n_rows = max(1, -(-len(chosen) // columns))
    n_frames, height, width = movie.shape
    width_in, height_in = columns * 0.45 * len(frames), n_rows * 0.62 + 0.3
    figure = Figure(figsize=(width_in, height_in), dpi=150)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.3 / height_in, wspace=0.06, hspace=0.45)
    size = 2 * half_width + 1
    for i, (_, event) in enumerate(chosen.iterrows()):
        t, y, x = int(round(event["t"])), int(round(event["y"])), int(round(event["x"]))
        strip = np.zeros((size, size * len(frames)), np.float32)
        for j, dt in enumerate(frames):
            f = t + dt
            if not 0 <= f < n_frames:
                continue
            y0, x0 = max(y - half_width, 0), max(x - half_width, 0)
            crop = np.asarray(movie[f, y0:min(y + half_width + 1, height), x0:min(x + half_width + 1, width)],
                              np.float32)
            oy, ox = y0 - (y - half_width), x0 - (x - half_width)
            strip[oy:oy + crop.shape[0], j * size + ox:j * size + ox + crop.shape[1]] = crop
        axes = figure.add_subplot(n_rows, columns, i + 1)
        visible = strip[strip > 0]
        low, high = _display_range(visible) if visible.size else (0, 1)
        axes.imshow(strip, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        label = f"t={t} y={y} x={x}"
        if "score" in event.index and np.isfinite(event["score"]):
            label += f" s={event['score']:.2f}"
        axes.set_title(label, fontsize=4.5, pad=1.5)
        axes.set_axis_off()
    figure.suptitle(f"frames t{frames[0]:+d} to t{frames[-1]:+d} around the {len(chosen)} best-scored events",
                    fontsize=6)
    return figure


# -- files ----------------------------------------------------------------------------------------
def save_figure(figure, path) -> Path:
    from ..io.atomic import atomic_output

    with atomic_output(path) as tmp:
        figure.savefig(tmp)
    return Path(path)


def write_segmentation(path, labels, scores=None) -> Path:
    """Labels as ``dataset`` (int8), and optionally the class probabilities as ``scores``."""
    import h5py

    from ..io.atomic import atomic_output

    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            chunks = (min(labels.shape[0], 16),) + labels.shape[1:]
            handle.create_dataset("dataset", data=labels, chunks=chunks, compression="gzip")
            if scores is not None:
                handle.create_dataset("scores", data=scores, compression="gzip",
                                      chunks=(min(scores.shape[0], 16),) + scores.shape[1:])
    return Path(path)


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


def run(args):
    from ..io.events import write_events
    from ..io.movie import open_movie
    from ..progress import TqdmProgress

    if args.patch_size < 56 or args.patch_size % 4:
        raise InputError(f"--patch_size: must be a multiple of 4 and at least 56 (got {args.patch_size})")
    for movie_path in _movies_to_process(args):
        outputs = {name: check_output(format_path(getattr(args, name), movie=movie_path), args)
                   for name in OUTPUTS if name != "gallery" or args.gallery_size > 0}
        movie = open_movie(movie_path)
        if int(np.prod(movie.shape)) * movie.dtype.itemsize <= IN_MEMORY_BYTES:
            movie = np.asarray(movie[0:movie.shape[0]])
        model = _model(args)
        name = movie_path.name
        try:
            labels, events, scores = detect_events(
                movie, model, patch_size=args.patch_size, precision=args.precision,
                cluster_radius=args.cluster_radius, min_size=args.min_size, min_score=args.min_score,
                offset=args.offset, return_scores=True,
                progress=TqdmProgress(f"{name}: segmenting", "patch"),
                measure_progress=TqdmProgress(f"{name}: measuring", "event"))
        except ValueError as err:
            raise InputError(f"{movie_path}: {err}") from None
        write_segmentation(outputs["segmentation"], labels, scores if args.save_scores else None)
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
