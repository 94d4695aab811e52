"""Turn an event list (expert annotation) into a segmentation: the training target of a movie.

Each annotated event at (t, y, x) is painted with the reference mask: a disk of radius 4 at
frame t, of radius 2 at frame t+1 and the single pixel at frame t+2, clipped at the movie
border; voxels take the event's class_label (1 in expert annotations). The movie is only read
for its shape.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ._common import (add_movie_format_arguments, add_overwrite_argument, check_output, format_path, input_path,
                      movie_format_options, run_command)

NAME = "generate_segmentation"
BATCH_PATHS = ["movie", "annotation", "segmentation"]
BATCH_MOVIE = "movie.h5"
DEFAULT_ANNOTATION = "expert_annotation.xml"
VALID_LABELS = (1, 2)


def add_arguments(parser):
    parser.add_argument("-m", "--movie", type=Path, default=None,
                        help=f"movie (.h5, TIFF stack, folder of frames or microscope file; with --batch, "
                             f"default: {BATCH_MOVIE})")
    add_movie_format_arguments(parser)
    parser.add_argument("-a", "--annotation", type=Path, default=None,
                        help=f"event list (.xml or .csv) (default: {DEFAULT_ANNOTATION} in the movie's folder)")
    parser.add_argument("-s", "--segmentation", default="{movie.parent}/expert_segmentation.h5",
                        help="output segmentation (.h5)")
    parser.add_argument("--allow_empty", action="store_true",
                        help="accept an annotation without events (an all-background target; default: an error)")
    add_overwrite_argument(parser)


def check_events(events, shape, path) -> None:
    """Raise InputError for labels other than 1 or 2 and for event centres outside the movie."""
    from ..io.events import check_events_in_movie

    labels = events["class_label"].to_numpy()
    bad = np.flatnonzero(~np.isin(labels, VALID_LABELS))
    if len(bad):
        raise InputError(f"{path}: event {bad[0] + 1} has class_label {labels[bad[0]]} "
                         f"(expected 1 = event or 2 = event in a merged annotation with spots as 1)")
    check_events_in_movie(events, shape, path)


def run(args):
    from ..events.targets import events_to_labels
    from ..io.events import read_events
    from ..io.h5 import write_h5
    from ..io.movie import open_movie
    from ..io.segmentation import SEGMENTATION_ATTRS

    movie_path = input_path(args, "movie", BATCH_MOVIE, "the movie (.h5, TIFF stack or folder of frames)")
    annotation = args.annotation if args.annotation is not None else movie_path.parent / DEFAULT_ANNOTATION
    segmentation = check_output(format_path(args.segmentation, movie=movie_path), args)
    with open_movie(movie_path, **movie_format_options(args)) as movie:
        shape = tuple(int(s) for s in movie.shape)
    events = read_events(annotation)
    if len(events) == 0 and not args.allow_empty:
        raise InputError(f"{annotation}: no events in this annotation: the target would be all background "
                         "(add --allow_empty if that is what you want)")
    check_events(events, shape, annotation)
    labels = events_to_labels(events, shape)
    write_h5(segmentation, labels, attrs=SEGMENTATION_ATTRS, overwrite=args.overwrite)
    counts = ", ".join(f"{int((events['class_label'] == v).sum())} of class {v}"
                       for v in VALID_LABELS if (events["class_label"] == v).any()) or "no events"
    print(f"wrote {segmentation} ({len(events)} events: {counts})")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
