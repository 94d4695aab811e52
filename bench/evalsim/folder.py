"""Writing a simulated movie as the folder a user has: movie, annotation, mask, truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .simulate import Simulation

#: Files of a movie folder.
FILES = ("movie.h5", "truth.csv", "expert_annotation.xml", "mask.tif", "objects.csv.gz", "metadata.json")


def write_folder(sim: Simulation, folder, *, overwrite: bool = False) -> Path:
    """Write ``sim`` into ``folder`` (created); every file is written atomically.

    Files: ``movie.h5`` (uint16 ``dataset``; attributes ``pixel_size_um``, ``frame_interval_s``,
    ``camera_offset``, ``family``, ``seed``, ``generator``), ``truth.csv`` (reference columns
    ``tomo_idx,class_label,x,y,z`` then every truth attribute), ``expert_annotation.xml`` (the
    reference object list of the events), ``mask.tif`` (uint8, 1 inside the cell),
    ``objects.csv.gz`` (every simulated object frame by frame) and ``metadata.json``.

    Raises
    ------
    FileExistsError
        If ``folder`` already holds one of these files and ``overwrite`` is False.
    """
    import tifffile

    from exodeepfinder.io.atomic import atomic_output
    from exodeepfinder.io.events import write_events
    from exodeepfinder.io.h5 import write_h5

    folder = Path(folder)
    existing = [name for name in FILES if (folder / name).exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{folder}: already holds {', '.join(existing)} (use --overwrite to replace)")
    folder.mkdir(parents=True, exist_ok=True)
    meta = sim.metadata
    attrs = {name: meta[name] for name in ("pixel_size_um", "frame_interval_s", "camera_offset", "family", "seed",
                                           "generator", "camera")}
    write_h5(folder / "movie.h5", sim.movie, attrs=attrs)
    write_events(sim.events, folder / "truth.csv")
    write_events(sim.events[["t", "y", "x", "class_label", "obj_id"]], folder / "expert_annotation.xml")
    with atomic_output(folder / "mask.tif") as tmp:
        tifffile.imwrite(tmp, sim.mask.astype(np.uint8))
    with atomic_output(folder / "objects.csv.gz") as tmp:
        sim.objects.to_csv(tmp, index=False, float_format="%.3f", compression="gzip")
    with atomic_output(folder / "metadata.json") as tmp:
        Path(tmp).write_text(json.dumps(meta, indent=1))
    return folder
