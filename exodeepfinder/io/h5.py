"""HDF5 arrays in the ExoDeepFinder layout: one array in the dataset named ``dataset``."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..progress import report
from .atomic import atomic_output

DATASET = "dataset"


def _open_failure(err: OSError) -> str:
    from ..errors import os_error_code, os_error_problem

    code = os_error_code(err)
    if code is not None:
        return os_error_problem(err)
    from .checked import read_failure

    reason = read_failure(err)
    # h5py nests the reason: "Unable to synchronously open file (file signature not found)"
    if reason.startswith("truncated file"):
        return "truncated: the file is incomplete"
    return reason.replace("file signature not found", "not an HDF5 file")


def open_h5_file(path, what: str = "file"):
    """Open an HDF5 file for reading (an ``h5py.File``; close it, or use it in a ``with`` block).

    Raises
    ------
    InputError
        ``<path>: <what> not found``, ``<path>: is a folder...`` or ``<path>: not a readable HDF5
        <what> (<why>)`` (not HDF5, truncated, permission denied...).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected an HDF5 {what}")
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 {what} ({_open_failure(err)})") from None


def open_h5(path):
    """Open an ExoDeepFinder HDF5 file and return its ``dataset`` (read lazily, slice it to read).

    The file stays open as long as the returned dataset is referenced.

    Raises
    ------
    InputError
        If the file is missing, is not HDF5, or has no ``dataset``.
    """
    path = Path(path)
    handle = open_h5_file(path)
    if DATASET not in handle:
        names = ", ".join(handle.keys()) or "none"
        handle.close()
        raise InputError(f"{path}: no dataset named '{DATASET}' (found: {names})")
    return handle[DATASET]


def read_h5(path) -> np.ndarray:
    """Read the whole ``dataset`` array of an ExoDeepFinder HDF5 file."""
    dataset = open_h5(path)
    try:
        return dataset[()]
    finally:
        dataset.file.close()


#: HDF5 writes go without HDF5's chunk cache: with it, a write error (disk full) surfaces only when
#: the file is closed, and HDF5 then crashes the process when the dataset is released. Without it,
#: the failing write raises OSError at once. Writers give whole chunks, so the cache saves nothing.
NO_CHUNK_CACHE = {"rdcc_nbytes": 0}


def create_h5(path):
    """A new HDF5 file for writing, without chunk cache (see :data:`NO_CHUNK_CACHE`)."""
    return h5py.File(path, "w", **NO_CHUNK_CACHE)


def write_h5(path, array, *, compression: str | None = "gzip", chunks=True, attrs=None, overwrite: bool = False,
             progress=None, dataset_attrs=None) -> Path:
    """Write ``array`` as ``dataset`` in a new HDF5 file, atomically (see :mod:`exodeepfinder.io.atomic`).

    ``array`` may be anything indexable by frame with a ``shape`` and ``dtype`` (a NumPy array,
    an h5py dataset, a lazy movie): it is copied frame block by frame block so that long movies
    never need to fit in memory. ``attrs`` are stored on the file (e.g. the marker of label
    maps, :data:`~exodeepfinder.io.segmentation.SEGMENTATION_ATTRS`); ``dataset_attrs`` on ``dataset``
    (e.g. the movie's units, :func:`~exodeepfinder.io.units.units_attrs`). With ``overwrite=False``
    an existing ``path`` is never replaced (FileExistsError). ``progress(done, total)`` is called
    after each block of frames.
    """
    path = Path(path)
    shape = tuple(array.shape)
    dtype = np.dtype(array.dtype)
    if chunks is True and len(shape) == 3:
        chunks = (min(shape[0], 16), shape[1], shape[2])
    # blocks of whole chunks: each chunk is compressed and written once
    step = 64 if not chunks or chunks is True else max(1, 64 // chunks[0]) * chunks[0]
    with atomic_output(path, overwrite=overwrite) as tmp:
        with create_h5(tmp) as handle:
            for name, value in (attrs or {}).items():
                handle.attrs[name] = value
            out = handle.create_dataset(DATASET, shape=shape, dtype=dtype, chunks=chunks or None,
                                        compression=compression if chunks else None)
            for name, value in (dataset_attrs or {}).items():
                out.attrs[name] = value
            if len(shape) == 0:
                out[()] = np.asarray(array)
            else:
                for start in range(0, shape[0], step):
                    out[start:start + step] = np.asarray(array[start:start + step])
                    report(progress, min(start + step, shape[0]), shape[0])
    return path
