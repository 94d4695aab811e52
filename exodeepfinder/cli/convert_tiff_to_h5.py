"""Convert a folder of TIFF frames (one file per frame) into an HDF5 movie.

Frames are ordered by the last number in their names (1-based, consecutive). The movie is
written to ``{movie}/movie.h5`` by default, ``{movie}`` being the folder given with --tiff.
If that folder holds no TIFF but has a ``tiff/`` subfolder, the frames are read from there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_overwrite_argument, check_output, format_path, input_path, run_command

NAME = "convert_tiff_to_h5"
BATCH_PATHS = ["tiff"]


def add_arguments(parser):
    parser.add_argument("-t", "--tiff", type=Path, default=None,
                        help="folder of TIFF frames (with --batch: relative to each subfolder; default: the subfolder)")
    parser.add_argument("-o", "--output", default="{movie}/movie.h5",
                        help="output HDF5 file; {movie} is the movie folder, {movie.name} its name")
    parser.add_argument("-ms", "--make_subfolder", action="store_true",
                        help="first move the frames into a 'tiff/' subfolder of the movie folder")
    add_overwrite_argument(parser)


def _move_frames_to_subfolder(movie_folder: Path, frames) -> list[Path]:
    target = movie_folder / "tiff"
    if target.exists() and any(target.iterdir()):
        raise InputError(f"{target}: already exists and is not empty; frames not moved")
    target.mkdir(exist_ok=True)
    moved = []
    for frame in frames:
        destination = target / frame.name
        frame.rename(destination)
        moved.append(destination)
    print(f"moved {len(moved)} frames into {target}")
    return moved


def run(args):
    from ..io.h5 import write_h5
    from ..io.movie import TiffFolder, is_tiff, list_tiff_frames
    from ..progress import TqdmProgress

    movie_folder = input_path(args, "tiff", ".", "the folder of TIFF frames")  # --batch: the subfolder itself
    if not movie_folder.is_dir():
        raise InputError(f"{movie_folder}: folder not found")
    frames_folder = movie_folder
    has_tiff = any(is_tiff(p) for p in movie_folder.iterdir() if p.is_file())
    if not has_tiff and (movie_folder / "tiff").is_dir():
        frames_folder = movie_folder / "tiff"
    frames = list_tiff_frames(frames_folder)  # validate the names before moving anything
    output = check_output(format_path(args.output, movie=movie_folder), args)
    if args.make_subfolder and frames_folder == movie_folder:
        _move_frames_to_subfolder(movie_folder, frames)
        frames_folder = movie_folder / "tiff"
    movie = TiffFolder(frames_folder)
    write_h5(output, movie, progress=TqdmProgress(f"{movie_folder.name}: converting", unit="frame"))
    print(f"wrote {output} ({movie.shape[0]} frames of {movie.shape[1]} x {movie.shape[2]}, {movie.dtype})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
