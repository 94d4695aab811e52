"""HDF5 arrays in the ExoDeepFinder layout: one array in the dataset named ``dataset``."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..progress import report
from .atomic import atomic_output

DATASET = "dataset"


def open_h5_file(path, what: str = "file"):
    """Open an HDF5 file for reading (an ``h5py.File``; close it, or use it in a ``with`` block).

    Raises
    ------
    InputError
        ``<path>: <what> not found`` or ``<path>: not a readable HDF5 <what>``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputError(f"{path}: not a readable HDF5 {what} ({err})") from None


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


def write_h5(path, array, *, compression: str | None = "gzip", chunks=True, progress=None) -> Path:
    """Write ``array`` as ``dataset`` in a new HDF5 file, atomically (temporary name, then rename).

    ``array`` may be anything indexable by frame with a ``shape`` and ``dtype`` (a NumPy array,
    an h5py dataset, a memory map): it is copied frame block by frame block so that long movies
    never need to fit in memory. ``progress(done, total)`` is called after each block of frames.
    """
    path = Path(path)
    shape = tuple(array.shape)
    dtype = np.dtype(array.dtype)
    if chunks is True and len(shape) == 3:
        chunks = (min(shape[0], 16), shape[1], shape[2])
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as handle:
            out = handle.create_dataset(DATASET, shape=shape, dtype=dtype, chunks=chunks or None,
                                        compression=compression if chunks else None)
            if len(shape) == 0:
                out[()] = np.asarray(array)
            else:
                step = 64
                for start in range(0, shape[0], step):
                    out[start:start + step] = np.asarray(array[start:start + step])
                    report(progress, min(start + step, shape[0]), shape[0])
    return path
