"""Convert a folder of TIFF frames (one file per frame) into an HDF5 movie.

Frames are ordered by the last number in their names (1-based, consecutive). The movie is
written to ``{movie}/movie.h5`` by default, ``{movie}`` being the folder given with --tiff.
If that folder holds no TIFF but has a ``tiff/`` subfolder, the frames are read from there.
--pixel_size (µm) and --frame_interval (s) are stored as attributes of ``dataset``; the commands
that read the movie (detect, report) then give their results in micrometres and seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..io.units import add_units_arguments, units_attrs, units_options
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
    add_units_arguments(parser)
    add_overwrite_argument(parser)


def _move_frames(frames, target: Path) -> list[Path]:
    """Move ``frames`` into the folder ``target``, all or none (moved ones go back on error); return the new paths."""
    moved = []
    try:
        for frame in frames:
            destination = target / frame.name
            frame.rename(destination)
            moved.append((frame, destination))
    except BaseException:
        _move_back(moved)
        raise
    return [destination for _, destination in moved]


def _move_back(moved) -> None:
    for origin, destination in reversed(moved):
        destination.rename(origin)


def run(args):
    from ..io.h5 import write_h5
    from ..io.movie import TiffFolder, check_movie_array, is_tiff, list_tiff_frames
    from ..progress import TqdmProgress

    units = units_options(args)
    movie_folder = input_path(args, "tiff", ".", "the folder of TIFF frames")  # --batch: the subfolder itself
    if not movie_folder.is_dir():
        raise InputError(f"{movie_folder}: folder not found")
    frames_folder = movie_folder
    has_tiff = any(is_tiff(p) for p in movie_folder.iterdir() if p.is_file())
    if not has_tiff and (movie_folder / "tiff").is_dir():
        frames_folder = movie_folder / "tiff"
    frames = list_tiff_frames(frames_folder)  # validate the names before moving anything
    output = check_output(format_path(args.output, movie=movie_folder), args)
    movie = TiffFolder(frames_folder)
    check_movie_array(movie.shape, movie.dtype, movie.files[0])
    subfolder, created, moved = movie_folder / "tiff", False, []
    if args.make_subfolder and frames_folder == movie_folder:
        if subfolder.exists() and (not subfolder.is_dir() or any(subfolder.iterdir())):
            raise InputError(f"{subfolder}: already exists and is not an empty folder; frames not moved")
        created = not subfolder.exists()
        subfolder.mkdir(exist_ok=True)
        try:
            moved = list(zip(frames, _move_frames(frames, subfolder)))
        except BaseException:
            if created:
                subfolder.rmdir()
            raise
        print(f"moved {len(moved)} frames into {subfolder}")
        movie = TiffFolder(subfolder)
    try:
        write_h5(output, movie, overwrite=args.overwrite, dataset_attrs=units_attrs(**units),
                 progress=TqdmProgress(f"{movie_folder.name}: converting", unit="frame"))
    except BaseException:
        if moved:  # the conversion failed: the frames go back where they were
            _move_back(moved)
            if created:
                subfolder.rmdir()
            print(f"moved the frames back into {movie_folder}")
        raise
    print(f"wrote {output} ({movie.shape[0]} frames of {movie.shape[1]} x {movie.shape[2]}, {movie.dtype})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
