"""Segment a movie with the U-Net: every voxel becomes background (0), bright spot (1) or event (2).

The label map is written as int8 to the HDF5 dataset 'dataset' of --segmentation; with
--save_scores the class probabilities are also saved (float16 dataset 'scores', [t, 3, y, x]).
Weights: --model_weights, else $EXODEEPFINDER_WEIGHTS, else the official weights in the user
cache, else the bundled default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import (add_device_argument, add_overwrite_argument, check_output, format_path, input_path,
                      add_model_arguments, run_command)

NAME = "segment"
BATCH_PATHS = ["movie"]


def add_arguments(parser):
    parser.add_argument("-m", "--movie", type=Path, default=None,
                        help="movie: .h5 file, folder of TIFF frames or TIFF stack (with --batch: "
                             "relative to each subfolder, default movie.h5)")
    add_model_arguments(parser)
    parser.add_argument("-v", "--visualization", action="store_true",
                        help="also save orthoslice PNGs of the movie and of the labels beside the segmentation")
    parser.add_argument("-s", "--segmentation", default="{movie.parent}/{movie.stem}_segmentation.h5",
                        help="output segmentation (.h5)")
    add_device_argument(parser)
    parser.add_argument("--precision", choices=["fast", "fp32"], default="fast",
                        help="fast: bfloat16/float16 and larger tiles; fp32: the reference's float32 numbers")
    parser.add_argument("--save_scores", action="store_true",
                        help="also save the class probabilities (float16 dataset 'scores', [t, 3, y, x])")
    add_overwrite_argument(parser)


def run(args):
    from ..inference import iter_segment
    from ..io.movie import open_movie
    from ..io.segmentation import write_segmentation
    from ..model.weights import load_unet
    from ..progress import TqdmProgress

    movie_path = input_path(args, "movie", "movie.h5", "the movie to segment")
    output = check_output(format_path(args.segmentation, movie=movie_path), args)
    movie = open_movie(movie_path)
    if len(movie.shape) != 3:
        raise InputError(f"{movie_path}: expected a [t, y, x] movie, found shape {tuple(movie.shape)}")
    model, device, source = load_unet(args.model_weights, args.device)
    print(f"weights: {source}")
    print(f"segmenting {movie_path} ({' x '.join(map(str, movie.shape))}) on {device}, precision {args.precision}")
    progress = TqdmProgress(f"{movie_path.parent.name or movie_path.name}: segmenting", unit="patch")
    try:
        blocks = iter_segment(movie, model, patch_size=args.patch_size, precision=args.precision,
                              return_scores=args.save_scores, progress=progress)
        write_segmentation(output, blocks, movie.shape, save_scores=args.save_scores)
    finally:
        progress.close()
    print(f"wrote {output}")
    if args.visualization:
        _save_orthoslices(movie, output)


def _save_orthoslices(movie, segmentation: Path):
    """``<segmentation>_movie_orthoslices.png`` and ``<segmentation>_labels_orthoslices.png``."""
    from ..io.figures import save_figure
    from ..io.h5 import open_h5
    from ..plots import orthoslices_figure

    labels = open_h5(segmentation)
    try:
        written = [save_figure(orthoslices_figure(volume, title=f"{segmentation.stem}: {name}", is_labels=is_labels),
                               segmentation.with_name(f"{segmentation.stem}_{name}_orthoslices.png"), dpi=80)
                   for name, volume, is_labels in (("movie", movie, False), ("labels", labels, True))]
    finally:
        labels.file.close()
    print("wrote " + ", ".join(str(p) for p in written))


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
