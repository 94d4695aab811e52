"""The files each command writes for one movie folder: is a folder already done, and how many events.

A rerun of a batch skips the folders whose outputs are all there. Every output is published
atomically (written under a temporary name, then renamed), so a file that exists is complete.
After a folder is done, a *completion record* is written beside its first output
(``.<name>.exodeepfinder-done.json``): the size and sha256 of each output and the options they
were made with. A rerun skips the folder only if the outputs are still those and the options the
same (:func:`completion_state`).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..commands import format_path, input_path
from ..errors import InputError


def _detect(module, args):
    (movie,) = module._movies_to_process(args)
    names = [name for name in module.OUTPUTS if name != "gallery" or args.gallery_size > 0]
    if getattr(args, "provenance", None) and "provenance" not in names:
        names.append("provenance")
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


#: Options that say how or where a batch runs, not what its outputs hold.
#: (The device, the engine and the memory budget change how a movie runs, not what its results mean: a
#: batch finished with a lower --max_memory after running out of memory does not run its done folders again.)
RUN_OPTIONS = ("batch", "batch_folder", "cluster", "cluster_options", "shard", "tls_ca_file", "tls_cert", "tls_key",
               "insecure", "debug", "overwrite", "device", "backend", "max_memory", "model_weights", "movies")
RECORD_SUFFIX = ".exodeepfinder-done.json"


def record_path(paths) -> Path:
    """Where the completion record of a folder's outputs is kept: beside its first output."""
    first = Path(paths[0])
    return first.with_name(f".{first.name}{RECORD_SUFFIX}")


def run_parameters(args, weights_sha256: str | None = None) -> dict:
    """The options that decide what a command's outputs hold (paths and how it ran left out), as text."""
    parameters = {}
    for name, value in sorted(vars(args).items()):
        if name.startswith("_") or name in RUN_OPTIONS or isinstance(value, Path):
            continue
        parameters[name] = value if isinstance(value, (bool, int, float, str, type(None))) else str(value)
    if weights_sha256 is not None:
        parameters["weights_sha256"] = weights_sha256
    return parameters


def _file_digest(path: Path) -> str:
    from ..model.download import sha256sum

    return sha256sum(path)


def write_completion_record(paths, parameters: dict) -> Path:
    """Record the size and sha256 of each output and the options they were made with (atomically)."""
    from ..io.atomic import atomic_output

    record = {"outputs": [{"name": Path(p).name, "size": Path(p).stat().st_size, "sha256": _file_digest(Path(p))}
                          for p in paths],
              "parameters": parameters}
    target = record_path(paths)
    with atomic_output(target, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=1, sort_keys=True))
    return target


def completion_state(paths, parameters: dict) -> tuple[str, str]:
    """Are a folder's existing outputs what a run with ``parameters`` would leave? ``(state, why)``.

    ``state`` is ``"complete"`` (skip it), ``"changed"`` (made with other options: ``why`` says
    which; run it again, replacing them), ``"damaged"`` (an output is empty, or not what the
    earlier run wrote: ``why`` names it) or ``"unrecorded"`` (no record, e.g. from an earlier
    version or a serial --batch run: skipped when no output is empty).
    """
    paths = [Path(p) for p in paths]
    for path in paths:
        if path.is_file() and path.stat().st_size == 0:
            return "damaged", f"{path}: empty file (an interrupted copy or publish)"
    try:
        record = json.loads(record_path(paths).read_text())
        outputs, recorded = record["outputs"], record["parameters"]
    except FileNotFoundError:
        return "unrecorded", ""
    except (OSError, ValueError, KeyError, TypeError):
        return "unrecorded", f"{record_path(paths)}: unreadable completion record"
    if [o.get("name") for o in outputs] != [p.name for p in paths]:
        return "unrecorded", ""
    for path, output in zip(paths, outputs):
        if not path.is_file():
            continue
        size = path.stat().st_size
        if size != output.get("size"):
            return "damaged", f"{path}: {size} bytes, the run that made it wrote {output.get('size')}"
        if _file_digest(path) != output.get("sha256"):
            return "damaged", f"{path}: changed since the run that made it (sha256 differs)"
    changed = [f"{name} {recorded.get(name)!r} -> {parameters.get(name)!r}"
               for name in sorted(set(recorded) | set(parameters)) if recorded.get(name) != parameters.get(name)]
    if changed:
        return "changed", ", ".join(changed)
    return "complete", ""
