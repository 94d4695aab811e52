"""Merge the detector's spots and the expert's events into the training segmentation and annotation.

The expert events become class-2 objects and their voxels in the expert segmentation are written
as 2; the detector's other voxels are bright spots (label 1), and each 2D blob of each frame
becomes a class-1 object of the annotation (at most --max_spots, drawn at random with --seed).
The decaying spot that follows an event is thus a bright spot in every frame. With --event_tails
reference, the reference's rule instead: detector blobs (3D connected components) whose centroid
lies within --exclusion_radius px of an expert event are erased, so the same kind of tail is
background after short events and a spot after long ones.
"""

from __future__ import annotations

import sys

from ..training_data.merge import EVENT_TAILS
from pathlib import Path

from ..errors import InputError
from ._common import add_overwrite_argument, check_output, format_path, publish, run_command

NAME = "merge_detector_expert"
BATCH_PATHS = ["detector_segmentation", "expert_annotation", "expert_segmentation"]


def add_arguments(parser):
    parser.add_argument("-ds", "--detector_segmentation", type=Path, default=Path("detector_segmentation.h5"),
                        help="detector segmentation (.h5, non-zero = spot), e.g. from edf_detect_spots")
    parser.add_argument("-ea", "--expert_annotation", type=Path, default=Path("expert_annotation.xml"),
                        help="expert annotation (.xml or .csv; every object is an event)")
    parser.add_argument("-es", "--expert_segmentation", type=Path, default=Path("expert_segmentation.h5"),
                        help="expert segmentation (.h5), e.g. from edf_generate_segmentation")
    parser.add_argument("-ms", "--merged_segmentation", default="{segmentation.parent}/merged_segmentation.h5",
                        help="output segmentation; {segmentation.parent} is the detector segmentation's folder")
    parser.add_argument("-ma", "--merged_annotation", default="{segmentation.parent}/merged_annotation.xml",
                        help="output annotation (.xml, or .csv)")
    parser.add_argument("--event_tails", choices=EVENT_TAILS, default=EVENT_TAILS[0],
                        help="spot: what the detector sees after an event is a bright spot; reference: the "
                             "reference's erasure of blobs near events (see --exclusion_radius)")
    parser.add_argument("-er", "--exclusion_radius", type=float, default=5.0,
                        help="with --event_tails reference: detector blobs whose centroid is this close (px, "
                             "frames counted as px) to an expert event are erased")
    parser.add_argument("--max_spots", type=int, default=9800,
                        help="at most this many bright spots in the annotation (drawn at random; 0 = no limit)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random draw of spots")
    parser.add_argument("--allow_empty", action="store_true",
                        help="accept an expert annotation without events (a target without events; default: an error)")
    add_overwrite_argument(parser)


def run(args):
    from ..io.events import check_events_in_movie, read_events, write_events
    from ..io.h5 import write_h5
    from ..io.segmentation import SEGMENTATION_ATTRS, read_segmentation
    from ..training_data.merge import merge_detector_expert

    if args.max_spots < 0:
        raise InputError(f"--max_spots: must be >= 0 (got {args.max_spots})")
    if args.exclusion_radius < 0:
        raise InputError(f"--exclusion_radius: must be >= 0 (got {args.exclusion_radius:g})")
    detector_path = Path(args.detector_segmentation)
    merged_segmentation = check_output(format_path(args.merged_segmentation, segmentation=detector_path), args)
    merged_annotation = check_output(format_path(args.merged_annotation, segmentation=detector_path), args)
    if merged_annotation.suffix.lower() not in (".xml", ".csv"):
        raise InputError(f"{merged_annotation}: the annotation must end in .xml or .csv")
    events = read_events(args.expert_annotation)
    if len(events) == 0 and not args.allow_empty:
        raise InputError(f"{args.expert_annotation}: no events in this annotation: the training target would "
                         "have no events (add --allow_empty if that is what you want)")
    # both must be label maps: a movie given by mistake is refused
    expert = read_segmentation(args.expert_segmentation)[0]
    detector = read_segmentation(detector_path)[0]
    if detector.shape != expert.shape:
        raise InputError(f"{detector_path}: shape {detector.shape} differs from {args.expert_segmentation} "
                         f"{expert.shape}")
    check_events_in_movie(events, expert.shape, args.expert_annotation)
    merged, merged_events = merge_detector_expert(detector, events, expert, exclusion_radius=args.exclusion_radius,
                                                  max_spots=args.max_spots or None, seed=args.seed,
                                                  event_tails=args.event_tails)
    with publish(args, [merged_segmentation, merged_annotation]) as (segmentation_file, annotation_file):
        write_h5(segmentation_file, merged, attrs=SEGMENTATION_ATTRS)
        write_events(merged_events, annotation_file)
    n_spots = int((merged_events.class_label == 1).sum())
    erased = int(((detector != 0) & (merged != 1) & (expert == 0)).sum())
    print(f"{detector_path.parent}: {len(events)} expert event(s) (class 2), {n_spots} bright spot(s) (class 1); "
          f"{erased} detector voxel(s) near events erased; wrote {merged_segmentation} and {merged_annotation}")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
