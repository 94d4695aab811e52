"""Segment a movie with the U-Net: every voxel becomes background (0), bright spot (1) or event (2).

The label map is written as int8 to the HDF5 dataset 'dataset' of --segmentation; with
--save_scores the class probabilities are also saved (float16 dataset 'scores', [t, 3, y, x]).
Weights: --model_weights, else $EXODEEPFINDER_WEIGHTS, else the official weights in the user
cache, else the bundled default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import (add_model_arguments, add_movie_format_arguments, add_overwrite_argument, check_output,
                      format_path, input_path, load_model_once, movie_format_options, naming_input, network_options,
                      plan_line, precision_line, run_command)

NAME = "segment"
BATCH_PATHS = ["movie"]


def add_arguments(parser):
    parser.add_argument("-m", "--movie", type=Path, default=None,
                        help="movie: .h5 file, folder of TIFF frames, TIFF stack or microscope file (OME-TIFF, "
                             ".nd2, .czi, .lif, .stk) (with --batch: relative to each subfolder, default movie.h5)")
    add_movie_format_arguments(parser)
    add_model_arguments(parser)
    parser.add_argument("-v", "--visualization", action="store_true",
                        help="also save orthoslice PNGs of the movie and of the labels beside the segmentation")
    parser.add_argument("-s", "--segmentation", default="{movie.parent}/{movie.stem}_segmentation.h5",
                        help="output segmentation (.h5)")
    parser.add_argument("--save_scores", action="store_true",
                        help="also save the class probabilities (float16 dataset 'scores', [t, 3, y, x])")
    add_overwrite_argument(parser)


def orthoslice_paths(segmentation: Path) -> dict:
    """The -v pictures of a segmentation: ``<segmentation>_movie_orthoslices.png`` and ``..._labels_...``."""
    return {name: segmentation.with_name(f"{segmentation.stem}_{name}_orthoslices.png") for name in ("movie", "labels")}


def run(args):
    from ..io.movie import open_movie
    from ..progress import TqdmProgress

    movie_path = input_path(args, "movie", "movie.h5", "the movie to segment")
    output = check_output(format_path(args.segmentation, movie=movie_path), args)
    pictures = {name: check_output(path, args) for name, path in orthoslice_paths(output).items()} \
        if args.visualization else {}
    with open_movie(movie_path, **movie_format_options(args)) as movie:
        model = load_model_once(args)
        from ..pipeline import segment_file  # after the checks of the inputs: they fail fast
        print(f"segmenting {movie_path} ({' x '.join(map(str, movie.shape))}), {precision_line(args, model)}")
        print(f"  windows: {plan_line(args, model, movie)}")
        progress = TqdmProgress(f"{movie_path.parent.name or movie_path.name}: segmenting", unit="window")
        with naming_input(movie_path, progress):  # the segmentation and its pictures appear together, or none
            segment_file(movie, output, model, save_scores=args.save_scores, pictures=pictures,
                         overwrite=args.overwrite, progress=progress, **network_options(args))
    print(f"wrote {output}" + "".join(f", {path}" for path in pictures.values()))


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
