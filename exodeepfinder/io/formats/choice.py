"""Which files are microscope files, and which scene and channel of a file is read.

The choice is the same for every format: a file with several channels (or scenes) and none
chosen is an error listing them (no guess: the wrong channel would give wrong events). A channel
or scene is chosen by name or by index (a name that is a number wins over the index). A Z axis of
size 1 is dropped; a file with several Z planes is refused with an explanation (a z-stack is no
movie), except in ImageJ and plain TIFF stacks whose frames ImageJ often labels as slices.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ...errors import InputError

#: What to install to read ND2, CZI, LIF... files.
FORMATS_INSTALL_HINT = "pip install 'exodeepfinder-torch[formats]'"
#: Suffixes read through bioio, and the plugin each needs.
BIOIO_FORMATS = {".nd2": ("Nikon ND2", "bioio-nd2"), ".czi": ("Zeiss CZI", "bioio-czi"),
                 ".lif": ("Leica LIF", "bioio-lif")}
#: TIFF-based microscope files read with tifffile (besides .tif/.tiff): MetaMorph stacks.
METAMORPH_SUFFIXES = (".stk",)
OME_TIFF_SUFFIXES = (".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf")


def is_microscope_file(path) -> bool:
    """True for the files :func:`exodeepfinder.io.open_movie` reads by their name (ND2, CZI, LIF, STK, OME-TIFF)."""
    name = Path(path).name.lower()
    return name.endswith(tuple(BIOIO_FORMATS) + METAMORPH_SUFFIXES + OME_TIFF_SUFFIXES)


# --------------------------------------------------------------------------------------------------
# choosing a channel or a scene


def _listing(names, limit=8) -> str:
    shown = ", ".join(f"{i} {name!r}" for i, name in enumerate(names[:limit]))
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


#: ``channel=FIRST`` or ``scene=FIRST``: the first one, even if there are several (to list them).
FIRST = "<first>"


def choose(what: str, names, wanted, path, aliases=None) -> int:
    """The index of the ``what`` (``"channel"`` or ``"scene"``) ``wanted`` among ``names``.

    ``wanted`` is None (allowed only when there is one), an index, or a name (a text that is a
    number is an index unless a name is that text). ``aliases`` are other names of the same
    entries (e.g. OME image IDs beside their names). ``names`` is empty for files without
    channels (or scenes): then only None, 0 and :data:`FIRST` are accepted.

    Raises
    ------
    InputError
        Naming the file and listing the ``names`` when ``wanted`` matches none, or is None with several.
    """
    names = [str(name) for name in names]
    plural = f"{len(names)} {what}s" if len(names) != 1 else f"1 {what}"
    if wanted is None or (isinstance(wanted, str) and wanted == FIRST):
        if len(names) <= 1 or wanted is not None:
            return 0
        raise InputError(f"{path}: {plural} ({_listing(names)}); choose one with {what} (a name or an index)")
    if not names:
        if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool) and wanted == 0 \
                or isinstance(wanted, str) and wanted.strip() == "0":
            return 0
        raise InputError(f"{path}: no {what} {wanted!r}: the file has a single {what}, without name")
    if isinstance(wanted, str):
        text = wanted.strip()
        if text in names:
            return names.index(text)
        for alias_names in aliases or ():
            alias_names = [str(a) for a in alias_names]
            if text in alias_names:
                return alias_names.index(text)
        if re.fullmatch(r"[+-]?\d+", text):
            wanted = int(text)
        else:
            raise InputError(f"{path}: no {what} named {text!r}; the file has {plural}: {_listing(names)}")
    if isinstance(wanted, (bool, np.bool_)) or not isinstance(wanted, (int, np.integer)):
        raise InputError(f"{what}: expected a name or an index, got {wanted!r}")
    if not 0 <= wanted < max(len(names), 1):
        raise InputError(f"{path}: no {what} {wanted}; the file has {plural}"
                         + (f": {_listing(names)}" if names else ""))
    return int(wanted)


def _axis_problem(path, sizes: dict, time_axis_strict: bool) -> str | None:
    """Why ``sizes`` (axis letter -> size, after choosing the channel) is no 2D + time movie, or None."""
    n_t, n_z = sizes.get("T", 1), sizes.get("Z", 1)
    if sizes.get("S", 1) > 1:
        return f"{path}: RGB pixels ({sizes['S']} samples per pixel); expected one intensity per pixel"
    if n_z > 1 and n_t > 1:
        return (f"{path}: {n_t} time points of {n_z} Z planes each (a 3D time-lapse); ExoDeepFinder analyses "
                "2D + time movies (save a single plane, e.g. a maximum projection, as a time-lapse)")
    if n_z > 1 and time_axis_strict:
        return (f"{path}: {n_z} Z planes and 1 time point: a z-stack, not a movie. If these planes are in fact "
                "frames, the file's metadata calls them Z: fix it (e.g. in Fiji with Image > Properties: "
                f"frames = {n_z}, slices = 1) and save the movie again")
    return None
