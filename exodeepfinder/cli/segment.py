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
from ._common import add_device_argument, add_overwrite_argument, check_output, format_path, run_command

NAME = "segment"
BATCH_PATHS = ["movie"]


def _patch_size(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 56 or value % 4:
        raise argparse.ArgumentTypeError(f"{value}: must be a multiple of 4, at least 56 (default 160)")
    return value


def add_arguments(parser):
    parser.add_argument("-m", "--movie", type=Path, default=None,
                        help="movie: .h5 file, folder of TIFF frames or TIFF stack (with --batch: "
                             "relative to each subfolder, default movie.h5)")
    parser.add_argument("-mw", "--model_weights", type=Path, default=None,
                        help="U-Net weights (.h5, Keras layout); default: $EXODEEPFINDER_WEIGHTS, "
                             "the official weights in the user cache, or the bundled model")
    parser.add_argument("-ps", "--patch_size", type=_patch_size, default=160,
                        help="patch size of the reference tiling (multiple of 4)")
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


def _movie_path(args) -> Path:
    if args.movie is not None:
        return Path(args.movie)
    if getattr(args, "batch_folder", None) is not None:
        return Path(args.batch_folder) / "movie.h5"
    raise InputError("--movie: give the movie to segment")


def _write_segmentation(path, movie, model, args, progress):
    import h5py
    import numpy as np

    from ..inference import iter_segment
    from ..io.atomic import atomic_output
    from ..io.h5 import DATASET

    n_frames, height, width = movie.shape
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        labels = handle.create_dataset(DATASET, shape=movie.shape, dtype=np.int8,
                                       chunks=(min(n_frames, 16), height, width), compression="gzip")
        scores = None
        if args.save_scores:
            scores = handle.create_dataset("scores", shape=(n_frames, 3, height, width), dtype=np.float16,
                                           chunks=(min(n_frames, 4), 3, height, width), compression="gzip")
        for block in iter_segment(movie, model, patch_size=args.patch_size, precision=args.precision,
                                  return_scores=args.save_scores, progress=progress):
            labels[block.start:block.stop] = block.labels
            if scores is not None:
                scores[block.start:block.stop] = block.scores


def run(args):
    from ..io.h5 import open_h5
    from ..io.movie import open_movie
    from ..model.weights import load_unet
    from ..progress import TqdmProgress

    movie_path = _movie_path(args)
    output = check_output(format_path(args.segmentation, movie=movie_path), args)
    movie = open_movie(movie_path)
    if len(movie.shape) != 3:
        raise InputError(f"{movie_path}: expected a [t, y, x] movie, found shape {tuple(movie.shape)}")
    model, device, source = load_unet(args.model_weights, args.device)
    print(f"weights: {source}")
    print(f"segmenting {movie_path} ({' x '.join(map(str, movie.shape))}) on {device}, precision {args.precision}")
    progress = TqdmProgress(f"{movie_path.parent.name or movie_path.name}: segmenting", unit="patch")
    try:
        _write_segmentation(output, movie, model, args, progress)
    finally:
        progress.close()
    print(f"wrote {output}")
    if args.visualization:
        from ..inference.visualization import save_orthoslices

        labels = open_h5(output)
        try:
            written = save_orthoslices(movie, labels, output.parent, output.stem)
        finally:
            labels.file.close()
        print("wrote " + ", ".join(str(p) for p in written))


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
