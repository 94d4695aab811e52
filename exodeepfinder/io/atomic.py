"""Write files so that a crash or an error never leaves a half-written output behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = True):
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file keeps the suffix of ``path`` (libraries such as h5py and matplotlib
    choose the format from it). On error it is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        Final location of the file.
    overwrite : bool
        If False and ``path`` exists, raise FileExistsError before writing anything.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise FileExistsError(f"{path}: already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file private (0600); give it the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
