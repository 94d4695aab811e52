"""Detect bright spots with Atlas (the reference's command), or with the built-in Atlas method.

With --atlas_path (the folder holding Atlas' ``atlas`` and ``blobsref`` programs), or when
``atlas`` is on the PATH, Atlas runs on every frame with --atlas_args. Otherwise (or with
--builtin) the built-in implementation of the Atlas method runs with the same arguments
(-rad, -pval, -arealim), so the same command works on machines without Atlas.
Writes detector_segmentation.h5 (1 = spot) beside the movie.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_overwrite_argument, run_command
# resolve_movie: the batch runner asks the command's module for the movie of a folder
from .detect_spots import add_movie_arguments, open_detection_input, resolve_movie, write_detection  # noqa: F401

NAME = "detect_spots_with_atlas"
BATCH_PATHS = ["movie"]


def add_arguments(parser):
    add_movie_arguments(parser)
    parser.add_argument("-ap", "--atlas_path", type=Path, default=None,
                        help="folder holding the atlas and blobsref programs (default: found on the PATH, "
                             "else the built-in detector)")
    parser.add_argument("-aa", "--atlas_args", default="-rad 21 -pval 0.001 -arealim 3",
                        help="Atlas arguments: -rad (std of the local window, px), -pval (probability of false "
                             "alarm), -arealim (smallest blob area, px)")
    parser.add_argument("--builtin", action="store_true",
                        help="use the built-in Atlas method even if Atlas is installed")
    add_overwrite_argument(parser)


def run(args):
    from ..progress import TqdmProgress
    from ..training_data.external_detector import parse_atlas_args, run_atlas
    from ..training_data.spots import detect_spots

    if args.builtin and args.atlas_path is not None:
        raise InputError("--builtin and --atlas_path: give one of them")
    use_atlas = not args.builtin and (args.atlas_path is not None or shutil.which("atlas") is not None)
    options = None if use_atlas else parse_atlas_args(args.atlas_args)  # bad args fail before any work
    movie_path, movie, frames_folder, output = open_detection_input(args)
    progress = TqdmProgress(f"{movie_path.parent.name or movie_path.name}: spots", unit="frame")
    if use_atlas:
        mask = run_atlas(movie, args.atlas_path, args.atlas_args, frames_folder=frames_folder, progress=progress)
        method = "Atlas"
    else:
        mask = detect_spots(movie, progress=progress, **options)
        method = "built-in Atlas method"
    write_detection(output, mask, movie_path, method, overwrite=args.overwrite)


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
