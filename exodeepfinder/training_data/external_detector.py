"""Run an external spot detector (Atlas or any program) and read its per-frame masks back.

The reference way to use another detector: a command line with ``{detector}``, ``{input}`` and
``{output}`` placeholders, which reads the folder of TIFF frames ``{input}`` and writes one binary
TIFF mask per frame into the folder ``{output}`` (frame numbers in the names, as the input).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.leases import work_folder
from ..io.movie import TiffFolder, list_tiff_frames
from ..progress import report

#: Atlas' default arguments in the reference (``detect_spots_with_atlas --atlas_args``).
ATLAS_DEFAULT_ARGS = "-rad 21 -pval 0.001 -arealim 3"


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def _run(argv, what: str, cwd=None) -> None:
    try:
        result = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                errors="replace")
    except OSError as err:
        raise InputError(f"{what}: cannot run {argv[0]!r} ({err.strerror or err})") from None
    if result.returncode != 0:
        command = shlex.join(argv)
        if len(command) > 120:  # the error line is cut at 300 characters: keep the detector's own message
            command = f"{command[:60]} ... {command[-50:]}"
        raise InputError(f"{what}: {command} failed with exit status {result.returncode}: "
                         f"{_last_line(result.stderr or result.stdout)}")


def write_tiff_frames(movie, folder, *, progress=None) -> Path:
    """Write a ``[t, y, x]`` movie as ``frame_0001.tif``, ``frame_0002.tif``... into ``folder``."""
    import tifffile

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n_frames = movie.shape[0]
    digits = max(4, len(str(n_frames)))
    for index in range(n_frames):
        tifffile.imwrite(folder / f"frame_{index + 1:0{digits}d}.tif", np.asarray(movie[index]))
        report(progress, index + 1, n_frames)
    return folder


def read_masks(folder, shape, what: str) -> np.ndarray:
    """Read the per-frame masks an external detector wrote: uint8 ``[t, y, x]``, 1 where non-zero."""
    folder = Path(folder)
    if not folder.is_dir() or not any(p.is_file() for p in folder.iterdir()):
        raise InputError(f"{what}: the detector wrote nothing into its output folder {folder}")
    list_tiff_frames(folder)  # one clear message if names are wrong or frames missing
    masks = TiffFolder(folder)
    if tuple(masks.shape) != tuple(shape):
        raise InputError(f"{what}: the detector wrote {masks.shape[0]} mask(s) of {masks.shape[1]} x "
                         f"{masks.shape[2]}, but the movie has {shape[0]} frame(s) of {shape[1]} x {shape[2]}")
    return (np.asarray(masks[:]) != 0).astype(np.uint8)


def run_detector_command(movie, detector_command: str, *, detector_path=None, frames_folder=None,
                         progress=None) -> np.ndarray:
    """Detect spots with an external program run once on the whole movie.

    Parameters
    ----------
    movie : array-like, shape (t, y, x)
        The movie (used for its shape, and written as TIFF frames if ``frames_folder`` is None).
    detector_command : str
        Command line with ``{input}`` (folder of TIFF frames), ``{output}`` (empty folder for the
        masks) and optionally ``{detector}`` placeholders, split like a POSIX shell would.
    detector_path : path or None
        Replaces ``{detector}`` (e.g. the path of the detector's program).
    frames_folder : path or None
        The movie's existing folder of TIFF frames, if it has one (saves writing them again).

    Returns
    -------
    ndarray of uint8, shape (t, y, x)
        1 where the detector's masks are non-zero.
    """
    if "{output}" not in detector_command:
        raise InputError(f"detector_command: {detector_command!r} has no {{output}} placeholder")
    if "{detector}" in detector_command and detector_path is None:
        raise InputError("detector_command uses {detector}: give the detector with detector_path")
    try:
        tokens = shlex.split(detector_command, posix=os.name != "nt")
    except ValueError as err:
        raise InputError(f"detector_command: cannot parse {detector_command!r} ({err})") from None
    with work_folder(tempfile.gettempdir(), "edf_detector") as work:
        if frames_folder is None:
            frames_folder = write_tiff_frames(movie, work / "frames")
        output = work / "masks"
        output.mkdir()
        values = {"input": str(Path(frames_folder).resolve()), "output": str(output),
                  "detector": str(detector_path) if detector_path is not None else ""}
        try:
            argv = [token.format(**values) for token in tokens]
        except (KeyError, IndexError, ValueError) as err:
            raise InputError(f"detector_command: unknown placeholder {err} in {detector_command!r} "
                             "(known: {detector}, {input}, {output})") from None
        _run(argv, "detector_command")
        masks = read_masks(output, movie.shape, "detector_command")
    report(progress, movie.shape[0], movie.shape[0])
    return masks


def parse_atlas_args(text: str) -> dict:
    """Read Atlas' ``-rad R -pval P -arealim A`` into :func:`~.spots.detect_spots` keywords."""
    names = {"-rad": ("radius", float), "-pval": ("pval", float), "-arealim": ("area_limit", int)}
    tokens = shlex.split(text or "")
    options = {}
    for i in range(0, len(tokens), 2):
        flag = tokens[i]
        if flag not in names or i + 1 >= len(tokens):
            raise InputError(f"atlas_args: the built-in detector understands only -rad, -pval and -arealim "
                             f"followed by a value (got {text!r})")
        name, kind = names[flag]
        try:
            options[name] = kind(tokens[i + 1])
        except ValueError:
            raise InputError(f"atlas_args: {flag} needs a number (got {tokens[i + 1]!r})") from None
    return options


def run_atlas(movie, atlas_path=None, atlas_args: str = ATLAS_DEFAULT_ARGS, *, frames_folder=None,
              progress=None) -> np.ndarray:
    """Detect spots with the Atlas programs (``blobsref`` and ``atlas``), one call per frame.

    Atlas reads ``blobs.txt`` from its working directory; it is generated once with ``blobsref``
    in a temporary folder. ``atlas_path`` is the folder of both programs (None: found on the PATH).

    Returns
    -------
    ndarray of uint8, shape (t, y, x)
    """
    import shutil

    def program(name):
        if atlas_path is not None:
            path = Path(atlas_path) / name
            if not path.is_file():
                raise InputError(f"{atlas_path}: no {name} program in this folder (atlas_path)")
            return str(path.resolve())
        found = shutil.which(name)
        if found is None:
            raise InputError(f"atlas_path: {name} not found on the PATH; give the folder of the Atlas programs "
                             "or leave out atlas_path to use the built-in detector")
        return found

    atlas, blobsref = program("atlas"), program("blobsref")
    extra = shlex.split(atlas_args or "")
    with work_folder(tempfile.gettempdir(), "edf_atlas") as work:
        if frames_folder is None:
            frames_folder = write_tiff_frames(movie, work / "frames")
        frames = list_tiff_frames(frames_folder)
        output = work / "masks"
        output.mkdir()
        _run([blobsref], "--atlas_path (blobsref)", cwd=work)
        for index, frame in enumerate(frames):
            _run([atlas, "-i", str(Path(frame).resolve()), "-o", str(output / frame.name)] + extra,
                 f"--atlas_path (atlas on {frame.name})", cwd=work)
            report(progress, index + 1, len(frames))
        return read_masks(output, movie.shape, "--atlas_path")
