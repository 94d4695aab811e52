"""Arrays on disk read lazily, whose reads are checked and whose errors name the file.

An HDF5 dataset, a folder of TIFF frames or a memory-mapped TIFF stack is read when sliced. A
damaged file (a corrupt compressed chunk, a truncated file) then fails deep inside a library
with a message that names no file; and bad values (NaN pixels, a raw movie given as a
segmentation) go through unnoticed. :class:`CheckedArray` reads through its source, turns read
failures into an :class:`~exodeepfinder.errors.InputError` naming the file and the frames, and
runs a check on every block of frames read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError


def _frame_indices(key, n_frames: int) -> np.ndarray:
    """Indices (along the first axis) of the frames that ``array[key]`` reads."""
    if isinstance(key, tuple):
        key = key[0] if key else slice(None)
    if key is Ellipsis:
        key = slice(None)
    return np.atleast_1d(np.arange(n_frames)[key])


def _describe_frames(frames: np.ndarray) -> str:
    if len(frames) == 1:
        return f"frame t={frames[0]}"
    if len(frames) and np.all(np.diff(frames) == 1):
        return f"frames t={frames[0]} to {frames[-1]}"
    return f"{len(frames)} frames"


def read_failure(err: Exception) -> str:
    """A short reason for a failed read (HDF5 puts the useful part in parentheses)."""
    text = " ".join(str(err).split())
    inner = text[text.find("(") + 1:text.rfind(")")] if "(" in text and text.endswith(")") else ""
    reason = inner or text or type(err).__name__
    return reason if len(reason) <= 160 else reason[:157] + "..."


class CheckedArray:
    """A lazily read ``[t, ...]`` array of a file: slicing reads it, checks the values, names the file on errors.

    Parameters
    ----------
    source : array-like
        An h5py dataset, a :class:`~exodeepfinder.io.movie.TiffFolder`, a memory map...
    path : str or Path
        The file (or folder) ``source`` reads, named in error messages.
    check : callable, optional
        ``check(block, frames, path)`` for every block read (``frames``: the indices along the
        first axis); raises InputError on bad values.
    handle : object with ``close()``, optional
        What to close with :meth:`close` (e.g. the ``h5py.File``).

    Attributes
    ----------
    shape, dtype, ndim, path
    """

    def __init__(self, source, path, *, check=None, handle=None):
        self.source = source
        self.path = Path(path)
        self.shape = tuple(int(s) for s in source.shape)
        self.dtype = np.dtype(source.dtype)
        self.ndim = len(self.shape)
        self._check = check
        self._handle = handle

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def file(self):
        """The open ``h5py.File`` of an HDF5 source (AttributeError for other sources)."""
        import h5py

        if isinstance(self._handle, h5py.File):
            return self._handle
        raise AttributeError("file")

    @property
    def attrs(self):
        """The HDF5 attributes of the source dataset ({} for other sources)."""
        return getattr(self.source, "attrs", {})

    def __getattr__(self, name):
        # the rest of the source's interface (an h5py dataset's chunks, compression...), read-only
        if name.startswith("_") or name == "source":
            raise AttributeError(name)
        return getattr(self.source, name)

    def close(self) -> None:
        """Close the file (reading afterwards fails)."""
        if self._handle is not None:
            self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"<{type(self).__name__} {self.path} shape={self.shape} dtype={self.dtype}>"

    def __getitem__(self, key):
        try:
            block = np.asarray(self.source[key])
        except InputError:
            raise
        except (OSError, RuntimeError, KeyError) as err:
            frames = _frame_indices(key, self.shape[0]) if self.ndim else np.zeros(0, int)
            raise InputError(f"{self.path}: cannot read {_describe_frames(frames)} ({read_failure(err)}); "
                             "the file is damaged or incomplete") from None
        if self._check is not None and block.size:
            self._check(block, _frame_indices(key, self.shape[0]), self.path)
        return block

    def __array__(self, dtype=None, copy=None):
        array = self[()] if self.ndim == 0 else self[:]
        return array if dtype is None else array.astype(dtype, copy=False)
