"""Turn a segmentation (label map) into an event list: one event per cluster of event voxels.

Event voxels (label 2) are clustered with mean shift (bandwidth --cluster_radius, as the
reference) and each cluster becomes one event at its centre, with its size in voxels
(``cluster_size``) and, if the segmentation was saved with its class probabilities (edf_segment
--save_scores), its mean event probability (``score``). --min_size and --min_score drop small or
unsure clusters (spurious detections are mostly small). With --movie, each event is also measured
in the movie (ΔF/F0, rise, decay time, duration, spot size); the measurements are written as extra
CSV columns (beside an XML annotation, in ``<annotation>_measurements.csv``), and an event's
``score`` becomes the one ``exodeepfinder detect`` gives (the mean event probability, now in
``probability``, lowered for events that barely rise above the noise or last one frame).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from ..errors import InputError
from ._common import (add_movie_format_arguments, add_overwrite_argument, check_output, format_path, input_path,
                      movie_format_options, publish, run_command)

NAME = "generate_annotation"
BATCH_PATHS = ["segmentation", "annotation", "movie"]
BATCH_SEGMENTATION = "movie_segmentation.h5"


def add_arguments(parser):
    parser.add_argument("-s", "--segmentation", type=Path, default=None,
                        help=f"segmentation (.h5) made by edf_segment (with --batch, default: {BATCH_SEGMENTATION})")
    parser.add_argument("-cr", "--cluster_radius", type=float, default=5,
                        help="mean-shift bandwidth in voxels: roughly the radius of one event")
    parser.add_argument("-a", "--annotation", default="{segmentation.parent}/annotation.xml",
                        help="output event list: reference XML, or CSV if the name ends in .csv")
    parser.add_argument("-klu", "--keep_labels_unchanged", action="store_true",
                        help="cluster bright spots (1) and events (2) and keep their labels "
                             "(default: only events are clustered, written with class_label 1)")
    parser.add_argument("--min_size", type=int, default=None,
                        help="drop clusters of fewer voxels (spurious detections are small)")
    parser.add_argument("--min_score", type=float, default=None,
                        help="drop clusters whose score is lower: their mean event probability, or with --movie "
                             "the score of exodeepfinder detect (needs a segmentation saved with edf_segment "
                             "--save_scores)")
    parser.add_argument("--movie", type=Path, default=None,
                        help="movie the segmentation was made from: measure each event in it")
    add_movie_format_arguments(parser)
    parser.add_argument("--offset", "--camera_offset", dest="camera_offset", type=float, default=0.0,
                        help="camera baseline (counts) subtracted before measuring F0 and ΔF/F0")
    add_overwrite_argument(parser)


def run(args):
    from ..io.events import write_events
    from ..io.movie import open_movie
    from ..io.segmentation import open_segmentation
    from ..pipeline import events_from_segmentation
    from ..progress import TqdmProgress

    segmentation = input_path(args, "segmentation", BATCH_SEGMENTATION, "the segmentation file (.h5)")
    if args.cluster_radius <= 0:
        raise InputError(f"--cluster_radius: must be positive, got {args.cluster_radius}")
    if args.min_size is not None and args.min_size < 0:
        raise InputError(f"--min_size: must be >= 0, got {args.min_size}")
    annotation = check_output(format_path(args.annotation, segmentation=segmentation), args)
    if annotation.suffix.lower() not in (".xml", ".csv"):
        raise InputError(f"{annotation}: the annotation must end in .xml or .csv")
    outputs = {"annotation": annotation}
    if args.movie is not None and annotation.suffix.lower() == ".xml":
        outputs["measurements"] = check_output(annotation.with_name(annotation.stem + "_measurements.csv"), args)

    labels, scores = open_segmentation(segmentation)
    try:
        if args.min_score is not None and scores is None:
            raise InputError(f"--min_score: {segmentation} has no class probabilities "
                             "(segment with edf_segment --save_scores)")
        with contextlib.ExitStack() as stack:
            movie = None
            if args.movie is not None:
                movie = stack.enter_context(open_movie(args.movie, **movie_format_options(args)))
                if tuple(movie.shape) != tuple(labels.shape):
                    raise InputError(f"{args.movie}: movie of shape {tuple(movie.shape)} but the segmentation is "
                                     f"{tuple(labels.shape)}")
            progress = TqdmProgress(f"{segmentation.name}: finding events", unit="%")
            try:
                events = events_from_segmentation(labels, scores, movie, cluster_radius=args.cluster_radius,
                                                  min_size=args.min_size, min_score=args.min_score,
                                                  keep_labels_unchanged=args.keep_labels_unchanged,
                                                  offset=args.camera_offset, progress=progress)
            finally:
                progress.close()
    finally:
        labels.close()
    with publish(args, outputs) as temporary:  # the annotation and its measurements appear together
        for name in outputs:
            write_events(events, temporary[name])
    if len(events) == 0:
        print(f"no events found in {segmentation}; wrote an empty event list to {annotation}")
    else:
        print(f"wrote {len(events)} events to {annotation}")
    if "measurements" in outputs:
        print(f"wrote the measurements to {outputs['measurements']}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
