"""Lay out prepared movie folders as the training dataset that edf_train reads.

Each movie folder of --input holds the movie, its merged segmentation and merged annotation.
The output gets train/ and valid/ folders (--split % of the movies for training, chosen at random
with --seed) holding <movie>.h5, <movie>_target.h5 and <movie>_objl.xml for each movie folder
<movie>: symbolic links to the originals (copies with --copy, or where links are not possible).
Nothing is deleted or moved. A non-empty output folder is an error unless --overwrite.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import add_overwrite_argument, run_command

NAME = "structure_training_dataset"
BATCH_PATHS = None


def add_arguments(parser):
    parser.add_argument("-i", "--input", type=Path, required=True, help="folder of movie folders")
    parser.add_argument("-o", "--output", type=Path, required=True, help="training dataset folder to create")
    parser.add_argument("-s", "--split", type=float, default=70,
                        help="%% of the movies in train/, the rest in valid/ (0: no split, files directly in --output)")
    parser.add_argument("-m", "--movie", default="movie.h5", help="movie file name inside each movie folder")
    parser.add_argument("-ms", "--merged_segmentation", default="merged_segmentation.h5",
                        help="merged segmentation file name inside each movie folder")
    parser.add_argument("-ma", "--merged_annotation", default="merged_annotation.xml",
                        help="merged annotation file name inside each movie folder")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random split (default: random)")
    parser.add_argument("--copy", action="store_true", help="copy the files instead of linking to them")
    add_overwrite_argument(parser)


def run(args):
    from ..training_data.dataset import structure_training_dataset

    layout = structure_training_dataset(args.input, args.output, movie=args.movie,
                                        merged_segmentation=args.merged_segmentation,
                                        merged_annotation=args.merged_annotation, split=args.split, seed=args.seed,
                                        copy=args.copy, overwrite=args.overwrite)
    for name, reason in layout.skipped.items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    how = "linked" if layout.linked else "copied"
    if args.split > 0:
        print(f"train ({len(layout.train)}): {', '.join(layout.train) or '-'}")
        print(f"valid ({len(layout.valid)}): {', '.join(layout.valid) or '-'}")
        if not layout.valid:
            print("warning: the validation set is empty (edf_train needs movies in valid/)", file=sys.stderr)
    else:
        print(f"no split ({len(layout.train)}): {', '.join(layout.train)}")
    print(f"{how} {3 * len(layout.train + layout.valid)} file(s) into {args.output}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
