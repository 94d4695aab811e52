"""Detect bright spots in every frame of a movie and write them as a segmentation (1 = spot).

By default the built-in detector (the Atlas method: scale-normalised Laplacian of Gaussian with
automatic scale selection, threshold adapted to the local statistics for a probability of false
alarm --pval, blobs smaller than --area_limit removed) runs in-process: no external program needed.
An external detector can be used instead with --detector_command: it reads the folder of TIFF
frames {input} and writes one binary TIFF mask per frame into the folder {output}.

The movie is a folder of TIFF frames (default: tiff/, or movie.h5 when there is no tiff/ folder),
an HDF5 movie or a TIFF stack. The output goes beside it: detector_segmentation.h5.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import (add_movie_format_arguments, add_overwrite_argument, check_output, format_path,
                      movie_format_options, run_command)

NAME = "detect_spots"
BATCH_PATHS = ["movie"]
#: Tried in this order when --movie is not given.
DEFAULT_MOVIES = ("tiff", "movie.h5")


def add_movie_arguments(parser):
    parser.add_argument("-m", "--movie", type=Path, default=None,
                        help="movie: folder of TIFF frames, .h5, TIFF stack or microscope file (default: tiff/ "
                             "if it exists, else movie.h5; with --batch: relative to each subfolder)")
    parser.add_argument("-o", "--output", default="{movie.parent}/detector_segmentation.h5",
                        help="output segmentation (.h5, 1 = spot); {movie.parent} is the folder holding the movie")
    add_movie_format_arguments(parser)


def add_builtin_arguments(parser):
    group = parser.add_argument_group("built-in detector (Atlas method)")
    group.add_argument("--radius", type=float, default=21.0,
                       help="std (px) of the Gaussian window of the local statistics (Atlas -rad)")
    group.add_argument("--pval", type=float, default=0.001, help="probability of false alarm (Atlas -pval)")
    group.add_argument("--area_limit", type=int, default=3, help="smallest blob area kept, px (Atlas -arealim)")
    group.add_argument("--scale", type=float, default=None,
                       help="LoG scale in px (default: selected automatically among 1, 1.5, 2, 2.5, 3)")


def add_arguments(parser):
    add_movie_arguments(parser)
    group = parser.add_argument_group("external detector")
    group.add_argument("-dp", "--detector_path", type=Path, default=None,
                       help="the external detector (replaces {detector} in --detector_command)")
    group.add_argument("-dc", "--detector_command", default=None,
                       help="command line of an external detector with {detector}, {input} (folder of TIFF "
                            "frames) and {output} (folder for one binary TIFF mask per frame) placeholders; "
                            "default with --detector_path: '{detector} {input} {output}'")
    add_builtin_arguments(parser)
    add_overwrite_argument(parser)


def resolve_movie(args) -> Path:
    """The movie path of this run: --movie, else tiff/ or movie.h5 of the (batch) folder."""
    if args.movie is not None:
        movie = Path(args.movie)
        if not movie.exists():
            raise InputError(f"{movie}: movie not found")
        return movie
    folder = Path(getattr(args, "batch_folder", None) or ".")
    for name in DEFAULT_MOVIES:
        if (folder / name).exists():
            return folder / name
    raise InputError(f"{folder.resolve()}: no movie (looked for {' and '.join(DEFAULT_MOVIES)}; give --movie)")


def open_detection_input(args):
    """Open the movie; return (movie path, lazy movie, its TIFF frames folder or None, output path)."""
    from ..io.movie import open_movie

    movie_path = resolve_movie(args)
    output = check_output(format_path(args.output, movie=movie_path), args)
    movie = open_movie(movie_path, **movie_format_options(args))
    frames_folder = movie_path if movie_path.is_dir() else None
    return movie_path, movie, frames_folder, output


def builtin_options(args) -> dict:
    if args.radius <= 0:
        raise InputError(f"--radius: must be positive (got {args.radius})")
    if args.area_limit < 0:
        raise InputError(f"--area_limit: must be >= 0 (got {args.area_limit})")
    if not 0 < args.pval < 1:
        raise InputError(f"--pval: must be between 0 and 1 (got {args.pval})")
    if args.scale is not None and args.scale <= 0:
        raise InputError(f"--scale: must be positive (got {args.scale})")
    return dict(radius=args.radius, pval=args.pval, area_limit=args.area_limit, scale=args.scale)


def write_detection(output: Path, mask, movie_path: Path, method: str, *, overwrite: bool = False) -> None:
    import numpy as np
    from scipy import ndimage as ndi

    from ..io.h5 import write_h5
    from ..io.segmentation import SEGMENTATION_ATTRS

    write_h5(output, mask, attrs=SEGMENTATION_ATTRS, overwrite=overwrite)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndi.generate_binary_structure(2, 1)
    # counted block by block: labelling a whole long movie at once would need 4 bytes per voxel
    n_blobs = sum(ndi.label(mask[start:start + 64], structure=structure)[1] for start in range(0, len(mask), 64))
    print(f"{movie_path}: {method} found {n_blobs} spot(s) in {mask.shape[0]} frame(s) "
          f"({n_blobs / max(mask.shape[0], 1):.1f} per frame); wrote {output}")


def run(args):
    from ..progress import TqdmProgress
    from ..training_data.external_detector import run_detector_command
    from ..training_data.spots import detect_spots

    movie_path, movie, frames_folder, output = open_detection_input(args)
    progress = TqdmProgress(f"{movie_path.parent.name or movie_path.name}: spots", unit="frame")
    command = args.detector_command
    if command is None and args.detector_path is not None:
        command = "{detector} {input} {output}"
    if command is not None:
        if args.detector_path is not None and not Path(args.detector_path).exists():
            raise InputError(f"{args.detector_path}: detector not found (--detector_path)")
        mask = run_detector_command(movie, command, detector_path=args.detector_path, frames_folder=frames_folder,
                                    progress=progress)
        method = "external detector"
    else:
        mask = detect_spots(movie, progress=progress, **builtin_options(args))
        method = "built-in detector"
    write_detection(output, mask, movie_path, method, overwrite=args.overwrite)


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
