"""Adapt the detector to your movies from your corrections: a model folder for detect -mw.

Each subfolder of --batch holds a movie (movie.h5, tiff/ or one movie file) and its corrections:
--corrections (default corrected_events.csv, the napari Review widget's file: the detections with
a review column, accepted / rejected / added / unreviewed), or a complete expert annotation
(e.g. expert_annotation.xml: every event of the movie; detections not in it count as rejected).
adapt runs the base model on every movie itself.

Two stages, each measured on corrections it did not learn from (leave one movie out; with one
movie, half of its frames against the other half) and kept only if it raises the held-out F1:

1. a candidate classifier (seconds) that re-scores the network's candidates (found at a lower
   event probability, so that fewer events are missed) from what you accepted and rejected;
2. fine-tuning the U-Net (within --max_minutes; 0 skips it), always from the base weights.

The model folder (weights.h5, classifier.json, model_card.json with the held-out figures) is used
as `exodeepfinder detect MOVIE -mw MODEL_DIR`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ._common import add_overwrite_argument, run_command, weights_argument

NAME = "adapt"


def add_arguments(parser):
    parser.add_argument("--batch", dest="reviewed", type=Path, required=True, metavar="DIR",
                        help="folder of reviewed movie folders (each: a movie and its corrections)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL_DIR",
                        help="the model folder to write")
    parser.add_argument("--max_minutes", type=float, default=5.0,
                        help="time budget of the fine-tuning stage in minutes (0: classifier only)")
    parser.add_argument("--corrections", default="corrected_events.csv", metavar="NAME",
                        help="the corrections file in each folder (.csv with a review column, or a complete "
                             ".xml/.csv annotation; default: corrected_events.csv, else corrected_events.xml or "
                             "expert_annotation.xml)")
    parser.add_argument("-mw", "--model_weights", type=weights_argument, default=None, metavar="BASE",
                        help="the weights to adapt (a .h5 file, 'bundled' or 'official'; default as detect)")
    add_overwrite_argument(parser)


def run(args):
    from ..adapt import adapt_folders
    from ..errors import InputError
    from ..progress import TqdmProgress

    from ..io.atomic import check_writable_folder

    if not args.max_minutes >= 0:
        raise InputError(f"--max_minutes: must be >= 0, got {args.max_minutes:g}")
    if args.output.exists() and not args.overwrite:
        raise InputError(f"{args.output}: already exists (use --overwrite to replace it)")
    check_writable_folder(args.output)
    progress = TqdmProgress("adapting", unit="%")
    try:
        adapted = adapt_folders(args.reviewed, args.output, corrections=args.corrections,
                                base_model=args.model_weights, max_minutes=args.max_minutes,
                                overwrite=args.overwrite, progress=progress, log=lambda line: print(line, flush=True))
    finally:
        progress.close()
    print(adapted.summary())
    print(f"model folder: {args.output} (use it as: exodeepfinder detect MOVIE -mw {args.output})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
