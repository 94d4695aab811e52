"""A simulated movie and its truth written as a user's movie folder (what ``exodeepfinder simulate`` writes).

Files: ``movie.h5`` (uint16, dataset ``dataset``), ``expert_annotation.xml`` and
``expert_annotation.csv`` (the events as an expert annotation: class_label 1, z = frame of the
rise; the CSV also has the simulated columns), ``spots.csv`` (every visible docked vesicle and
distractor, one row per frame), ``simulation.json`` (the parameters, the seed, the drawn settings
of a randomised movie, the drift, the hot pixels, the true cell area and exocytosis rate),
``cell_mask.tif`` (the true cell: 1 inside, 0 outside, uint8) and, optionally, ``tiff/frame_0001.tif`` ...
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.events import write_events
from ..io.h5 import write_h5
from ..io.tables import write_csv
from ..progress import report, within
from .randomize import simulate_randomized
from .simulate import Simulation, simulate_movie

#: Files written into every simulated movie folder (``tiff`` is added on request).
OUTPUT_FILES = ("movie.h5", "expert_annotation.xml", "expert_annotation.csv", "spots.csv", "simulation.json",
                "cell_mask.tif")


def _jsonable(value):
    """``value`` with tuples, NumPy scalars and arrays turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def simulation_record(simulation: Simulation, shape, seed) -> dict:
    """What ``simulation.json`` holds: shape, seed, every parameter, drawn settings, drift, hot pixels."""
    params = {k: v for k, v in simulation.params.items() if k not in ("shape", "seed", "randomized", "ranges")}
    record = {"shape": list(shape), "seed": seed, "randomized": "randomized" in simulation.params, **params}
    if "randomized" in simulation.params:
        record["settings"] = simulation.params["randomized"]
        record["ranges"] = simulation.params["ranges"]
    drift = simulation.drift if simulation.drift is not None and len(simulation.drift) > 1 else np.zeros((2, 2))
    record["drift_per_frame"] = [float(v) for v in drift[1] - drift[0]]
    record["hot_pixels"] = simulation.hot_pixels[["y", "x", "level"]].to_numpy().tolist()
    record["n_event_rows"], record["n_spot_rows"] = len(simulation.events), len(simulation.spots)
    if simulation.cell_mask is not None:
        pixel_size, frame_interval = simulation.params["pixel_size"], simulation.params["frame_interval"]
        margin = int(simulation.params["margin"])
        area_um2 = float(simulation.cell_mask.sum()) * pixel_size ** 2
        window = simulation.cell_mask.copy()
        window[:margin], window[window.shape[0] - margin:], window[:, :margin], window[:, window.shape[1] - margin:] = (
            False, False, False, False)
        event_area_um2 = float(window.sum()) * pixel_size ** 2
        blank = simulation.params.get("blank_frames", (0, 0))
        minutes = (shape[0] - sum(blank)) * frame_interval / 60.0
        record["cell_area_um2"] = area_um2
        record["event_area_um2"] = event_area_um2  # the cell less the margin band, where events lie
        record["events_per_um2_per_min"] = (len(simulation.events) / (event_area_um2 * minutes)
                                            if event_area_um2 > 0 else None)
    return _jsonable(record)


def _write_tiff_frames(folder: Path, movie, progress=None) -> None:
    """One TIFF per frame in a new ``folder``: frame_0001.tif ..."""
    import tifffile

    folder.mkdir()
    digits = max(4, len(str(len(movie))))
    for index, frame in enumerate(movie, start=1):
        tifffile.imwrite(folder / f"frame_{index:0{digits}d}.tif", frame)
        report(progress, index, len(movie))


def _make_folder(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created (outermost first)."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()][::-1]
    for path in missing:
        path.mkdir()
    return missing


def _commit(staging: Path, folder: Path, names) -> None:
    """Move ``names`` from ``staging`` into ``folder``, replacing files there; all or nothing."""
    moved, replaced = [], []
    backup = staging / ".replaced"
    backup.mkdir()
    try:
        for name in names:
            if (folder / name).exists():
                os.replace(folder / name, backup / name)
                replaced.append(name)
            os.replace(staging / name, folder / name)
            moved.append(name)
    except BaseException:
        for name in moved:
            os.replace(folder / name, staging / name)
        for name in replaced:
            os.replace(backup / name, folder / name)
        raise


@contextlib.contextmanager
def _staged(folder: Path, names):
    """Yield a scratch folder beside ``folder``; on success move ``names`` into ``folder``.

    On error (or cancel) nothing is left: neither the scratch folder, nor a partial ``folder``,
    nor the parents created for it.
    """
    from ..io.atomic import make_work_folder, release_work_folder, remove_work_folder

    created = _make_folder(folder.parent)
    # a partial folder held by a lease: removed by `exodeepfinder clean` if this process is killed
    staging = make_work_folder(folder.parent, folder.name)
    try:
        yield staging
        if folder.exists():
            _commit(staging, folder, names)
        else:
            release_work_folder(staging)  # its owner record goes: the folder becomes the output
            staging.rename(folder)
    except BaseException:
        remove_work_folder(staging)
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    remove_work_folder(staging)  # after a swap, it holds the replaced files


def simulate_to_folder(folder, shape, seed, options=None, *, randomize=False, ranges=None, tiff=False,
                       overwrite=False, progress=None) -> Simulation:
    """Simulate one movie and write it with its truth into ``folder`` (files: :data:`OUTPUT_FILES`).

    All or nothing: the files are written into a scratch folder beside ``folder`` and moved into
    place at the end; an error or a cancel leaves ``folder`` as it was.

    Parameters
    ----------
    folder : str or Path
        Output folder (created, with its parents, if missing).
    shape : (int, int, int)
        Movie shape ``(frames, height, width)``.
    seed : int
        Random seed.
    options : dict or None
        :func:`~exodeepfinder.simulation.simulate_movie` arguments; with ``randomize``, the
        arguments that are not drawn.
    randomize : bool
        Draw the parameters (see :func:`~exodeepfinder.simulation.simulate_randomized`).
    ranges : dict or None
        With ``randomize``: ranges replacing those of ``DEFAULT_RANGES``.
    tiff : bool
        Also write the frames as ``tiff/frame_0001.tif`` ...
    overwrite : bool
        Replace files of ``folder`` that exist (else InputError before any work).
    progress : callable or None
        ``progress(done, total)``, 0 to 100 over the simulation and the writing.

    Returns
    -------
    Simulation

    Raises
    ------
    InputError
        An output file exists (without ``overwrite``) or a parameter is out of range.
    """
    folder = Path(folder)
    names = OUTPUT_FILES + (("tiff",) if tiff else ())
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    for name in names:
        if (folder / name).exists() and not overwrite:
            raise InputError(f"{folder / name}: already exists (pass overwrite=True to replace it)")
    options = dict(options or {})
    try:
        if randomize:
            simulation = simulate_randomized(shape, seed, ranges, progress=within(progress, 0, 60), **options)
        else:
            simulation = simulate_movie(tuple(shape), seed=seed, **options, progress=within(progress, 0, 60))
    except ValueError as err:
        raise InputError(str(err)) from None
    with _staged(folder, names) as staging:
        import tifffile

        from ..io.units import units_attrs

        units = units_attrs(simulation.params["pixel_size"], simulation.params["frame_interval"])
        write_h5(staging / "movie.h5", simulation.movie, progress=within(progress, 60, 85 if tiff else 100),
                 dataset_attrs=units)
        tifffile.imwrite(staging / "cell_mask.tif", simulation.cell_mask.astype(np.uint8))
        write_events(simulation.events, staging / "expert_annotation.xml")
        write_events(simulation.events, staging / "expert_annotation.csv")
        write_csv(simulation.spots, staging / "spots.csv")
        record = simulation_record(simulation, shape, seed)
        (staging / "simulation.json").write_text(json.dumps(record, indent=2) + "\n")
        if tiff:
            _write_tiff_frames(staging / "tiff", simulation.movie, within(progress, 85, 100))
    return simulation
