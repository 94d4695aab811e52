"""The files each command writes for one movie folder: is a folder already done, and how many events.

A rerun of a batch skips the folders whose outputs are all there. Every output is published
atomically (written under a temporary name, then renamed), so a file that exists is complete.
"""

from __future__ import annotations

from pathlib import Path

from ..commands import format_path, input_path
from ..errors import InputError


def _detect(module, args):
    (movie,) = module._movies_to_process(args)
    names = [name for name in module.OUTPUTS if name != "gallery" or args.gallery_size > 0]
    paths = [format_path(getattr(args, name), movie=movie) for name in names]
    return paths, format_path(args.events, movie=movie)


def _segment(module, args):
    movie = input_path(args, "movie", "movie.h5", "the movie to segment")
    segmentation = format_path(args.segmentation, movie=movie)
    pictures = list(module.orthoslice_paths(segmentation).values()) if args.visualization else []
    return [segmentation, *pictures], None


def _generate_annotation(module, args):
    segmentation = input_path(args, "segmentation", module.BATCH_SEGMENTATION, "the segmentation file (.h5)")
    annotation = format_path(args.annotation, segmentation=segmentation)
    paths = [annotation]
    if args.movie is not None and annotation.suffix.lower() == ".xml":
        paths.append(annotation.with_name(annotation.stem + "_measurements.csv"))
    return paths, annotation


def _detect_spots(module, args):
    return [format_path(args.output, movie=module.resolve_movie(args))], None


def _generate_segmentation(module, args):
    movie = input_path(args, "movie", module.BATCH_MOVIE, "the movie")
    return [format_path(args.segmentation, movie=movie)], None


def _convert_tiff_to_h5(module, args):
    return [format_path(args.output, movie=input_path(args, "tiff", ".", "the folder of TIFF frames"))], None


def _merge_detector_expert(module, args):
    detector = Path(args.detector_segmentation)
    return [format_path(args.merged_segmentation, segmentation=detector),
            format_path(args.merged_annotation, segmentation=detector)], None


#: Command name -> function(module, args of one folder) -> (output paths, event list path or None).
COMMAND_OUTPUTS = {
    "detect": _detect,
    "segment": _segment,
    "generate_annotation": _generate_annotation,
    "detect_spots": _detect_spots,
    "detect_spots_with_atlas": _detect_spots,
    "generate_segmentation": _generate_segmentation,
    "convert_tiff_to_h5": _convert_tiff_to_h5,
    "merge_detector_expert": _merge_detector_expert,
}


def expected_outputs(module, args) -> tuple[list[Path], Path | None] | None:
    """The files ``module.run(args)`` writes and the one holding its events (or None).

    None when they cannot be known before running (unknown command, or an input missing: the
    run then reports the problem itself).
    """
    describe = COMMAND_OUTPUTS.get(module.NAME)
    if describe is None:
        return None
    try:
        paths, events = describe(module, args)
    except InputError:
        return None
    return [Path(p) for p in paths], events


def outputs_state(paths) -> str:
    """``"complete"`` (all exist), ``"missing"`` (none exists) or ``"partial"``."""
    exist = [Path(p).exists() for p in paths]
    if all(exist):
        return "complete"
    return "partial" if any(exist) else "missing"


def count_events(path) -> int | None:
    """Number of events in an event list (XML or CSV); None if it cannot be read."""
    if path is None:
        return None
    from ..io.events import read_events

    try:
        return len(read_events(path))
    except (InputError, OSError, ValueError):
        return None
