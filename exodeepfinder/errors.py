"""Exceptions shared by the library and the command-line tools, and the one-line messages they become."""

from __future__ import annotations

import errno
import os
import re

from .partial import final_path_of


class InputError(ValueError):
    """A problem with the user's input (a file, a folder or an option).

    The message is one line that names the file or option and says what is wrong;
    the command-line tools print it without a traceback and exit with status 2.
    """


class ClusterError(RuntimeError):
    """A Dask cluster could not be started or reached; the message is one line that says why."""


class Cancelled(Exception):
    """Raised when a progress callback asks long work to stop (e.g. a GUI's Cancel button)."""


#: What the user reads for the system errors a file operation meets most often.
_PROBLEMS = {
    errno.ENOSPC: "no space left on the disk",
    getattr(errno, "EDQUOT", -1): "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOENT: "not found",
    errno.EEXIST: "already exists",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a file is in the way where a folder is needed",
    errno.ENAMETOOLONG: "name too long",
    errno.EIO: "input/output error (a failing disk or network drive?)",
    errno.EFBIG: "file too large for this file system",
}
# HDF5 reports the system error inside its message: "... errno = 28, error message = '...'"
_HDF5_ERRNO = re.compile(r"errno = (\d+)")
_HDF5_FILENAME = re.compile(r"filename = '([^']*)'")


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _in_the_way(path: str) -> str | None:
    """The first ancestor of ``path`` that exists but is not a folder (a file used as a folder), if any."""
    for parent in _ancestors(path):
        if os.path.exists(parent) and not os.path.isdir(parent):
            return parent
    return None


def _ancestors(path: str) -> list[str]:
    found, current = [], os.path.dirname(os.path.normpath(path))
    while current and current not in found:
        found.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    return found[::-1]  # outermost first: the first file in the way is the one to report


def os_error_code(err: OSError) -> int | None:
    """The system error number of an OSError (HDF5 errors carry it in their message)."""
    if err.errno is not None:
        return err.errno
    match = _HDF5_ERRNO.search(str(err))
    return int(match.group(1)) if match else None


def os_error_problem(err: OSError) -> str:
    """What went wrong in an OSError, in a few words (no file name, no traceback)."""
    code = os_error_code(err)
    if code in _PROBLEMS:
        return _PROBLEMS[code]
    if err.strerror:
        return err.strerror[:1].lower() + err.strerror[1:]
    if code:
        return os.strerror(code).lower()
    text = str(err).split(" (")[0] if "(" in str(err) else str(err)
    return _one_line(text) or type(err).__name__


def os_error_filename(err: OSError) -> str | None:
    """The file an OSError is about: its ``filename``, else the one HDF5 names in its message."""
    if err.filename is not None:
        return os.fsdecode(err.filename) if isinstance(err.filename, (bytes, os.PathLike)) else str(err.filename)
    match = _HDF5_FILENAME.search(str(err))
    return match.group(1) if match else None


def error_message(err: BaseException) -> str:
    """The one line a command prints for ``err``: ``<file>: <problem>`` where a file is known.

    Input errors keep their own message; system errors (disk full, permission denied, a file
    used as a folder...) name the file and the problem in words; anything else is an internal
    error, named by its type.
    """
    if isinstance(err, (InputError, ClusterError)):
        return _one_line(str(err))
    if isinstance(err, OSError):
        filename = os_error_filename(err)
        problem = os_error_problem(err)
        if filename is None:
            return problem
        filename = str(final_path_of(filename))  # a temporary name means nothing to the user
        if err.errno == errno.ENOTDIR or (err.errno == errno.EEXIST and _in_the_way(filename)):
            blocking = _in_the_way(filename)
            if blocking is not None:
                return f"{filename}: {blocking} is a file, not a folder"
        return f"{filename}: {problem}"
    if isinstance(err, MemoryError):
        return "not enough memory" + (f" ({_one_line(str(err))})" if str(err) else "")
    return f"internal error: {type(err).__name__}: {_one_line(str(err))}"
