"""Write files so that an error, a cancel or a crash never leaves a half-written output behind.

Each output ``folder/name`` is first written as ``folder/.name.<pid>-<token>.exodeepfinder-partial/name``
(a *partial folder* beside it, named after the output and the process writing it; inside, the file
keeps its final name, so libraries that choose the format from the suffix still work). When it is
complete it is flushed to the disk (fsync) and published under its final name in one step that
also checks that the name is free: a hard link, which fails if the name exists, or, when
overwriting is allowed, a rename. Nothing can slip in between a check and the rename.

Several outputs can be published together (:func:`atomic_outputs`): if one of them cannot be
published, those already published are taken back (a replaced file is restored), so all of
them appear or none. Partial folders are removed on errors and on Ctrl-C; one left by a killed
process is removed by the next write of the same output, which logs a warning (logger
``exodeepfinder``) saying so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import sys
from pathlib import Path

from ..errors import InputError
from ..partial import _PARTIAL_NAME, PARTIAL_SUFFIX, final_path_of, is_partial  # noqa: F401
from ..progress import raise_pending_interrupt
# the leases and the clean-up live in their own modules; their public names stay importable from here
from .leases import (CLAIM_SUFFIX, LEASE_SECONDS, RENEW_SECONDS, _OWNER, _hold, _release,  # noqa: F401
                     make_work_folder, release_work_folder, remove_work_folder, stale_reason)
from .leftovers import (GROUP_RECORD, LEGACY_SCRATCH_PREFIXES, REPLACED, TEMPORARY_PREFIXES, clean,  # noqa: F401
                        leftovers, remove_stale_partials)

# a replaced file is kept here until the whole group is published (to restore it if the group fails)
_REPLACED = REPLACED
# link(2) is not supported everywhere (FAT, some network drives): then claim the name with O_EXCL
_NO_LINKS = {getattr(errno, name) for name in ("EPERM", "EXDEV", "EMLINK", "ENOSYS", "EOPNOTSUPP", "ENOTSUP", "EACCES")
             if hasattr(errno, name)}

log = logging.getLogger("exodeepfinder")


def check_writable_folder(path) -> None:
    """Raise InputError if the folder of output ``path`` cannot be created or written to.

    Catches, before any work, a file used as a folder, a path that is a folder, and a folder
    without write permission (or on a read-only file system).
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder (give a file name)")
    folder = path.parent
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise InputError(f"{path}: {existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        problem = "read-only file system" if _read_only(existing) else "permission denied"
        raise InputError(f"{path}: cannot write in {existing} ({problem})")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):
        return False


def _fsync(path: Path, directory: bool = False) -> None:
    if directory and os.name == "nt":
        return  # Windows cannot open a folder to flush it
    flags = os.O_RDONLY if os.name != "nt" else os.O_RDWR
    try:
        fd = os.open(path, flags | getattr(os, "O_DIRECTORY", 0) if directory else flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:  # some file systems cannot flush a folder: the files themselves are flushed
            raise
    finally:
        os.close(fd)


def _inside_own_partial(path: Path) -> bool:
    """True when ``path`` lies in a partial folder of this process: it is published with that folder's output."""
    match = _PARTIAL_NAME.match(path.parent.name)
    return match is not None and int(match.group("pid")) == os.getpid()


class _Output:
    """One output of a group: its final path, its partial folder and what publishing it did."""

    def __init__(self, path: Path):
        self.path = path
        self.partial = None
        self.created_folders = []
        self.direct = False  # written straight into an enclosing partial folder, published with it
        self.published = None  # "linked", "replaced" or "direct"
        self.existed = False  # with overwrite: a file was there before

    @property
    def temporary(self) -> Path:
        return self.path if self.partial is None else self.partial / self.path.name

    def open(self) -> Path:
        if _inside_own_partial(self.path):
            self.direct = True
            return self.path
        self.created_folders = _make_folders(self.path)
        remove_stale_partials(self.path)
        name = f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
        partial = self.path.parent / name
        self.partial = partial  # before it exists: a signal arriving just after mkdir must not leak it
        try:
            partial.mkdir()
        except OSError as err:
            self.partial = None
            from ..errors import os_error_problem

            problem = "cannot create files there" if err.errno == errno.ENOENT else os_error_problem(err)
            raise InputError(f"{self.path}: cannot write in {self.path.parent} ({problem})") from None
        _hold(partial)
        return self.temporary

    def check_written(self) -> None:
        if not os.path.lexists(self.temporary):
            raise RuntimeError(f"{self.path}: nothing was written to its temporary file")
        if self.partial is not None and self.temporary.is_file() and not self.temporary.is_symlink():
            _fsync(self.temporary)

    def publish(self, overwrite: bool) -> None:
        if self.direct:
            self.published = "direct"
            return
        source = self.temporary
        if overwrite:
            self.existed = os.path.lexists(self.path)
            if self.existed and not self.path.is_dir():
                with contextlib.suppress(OSError, NotImplementedError):  # kept until the group is published
                    if os.link in os.supports_follow_symlinks:
                        os.link(self.path, self.partial / _REPLACED, follow_symlinks=False)
                    else:
                        os.link(self.path, self.partial / _REPLACED)
            os.replace(source, self.path)
            self.published = "replaced"
        else:
            try:
                if source.is_symlink() and os.link in os.supports_follow_symlinks:
                    os.link(source, self.path, follow_symlinks=False)  # the link itself, not its target
                elif source.is_symlink():
                    raise OSError(getattr(errno, "ENOTSUP", errno.EPERM), "cannot hard-link a symbolic link here")
                else:
                    os.link(source, self.path)
            except FileExistsError:
                raise FileExistsError(errno.EEXIST, "already exists", str(self.path)) from None
            except OSError as err:
                if err.errno not in _NO_LINKS:
                    raise
                # no hard links here (FAT, some network drives): a rename that refuses to replace
                _rename_no_replace(source, self.path, self.partial)
            self.published = "linked"
        _fsync(self.path.parent, directory=True)

    def take_back(self) -> None:
        """Undo :meth:`publish` (another output of the group failed)."""
        try:
            if self.published == "linked":
                if not os.path.lexists(self.temporary):  # moved there (no hard links): it is ours
                    self.path.unlink()
                elif os.path.samestat(os.lstat(self.temporary), os.lstat(self.path)):
                    self.path.unlink()
            elif self.published == "replaced":
                backup = self.partial / _REPLACED
                if os.path.lexists(backup):
                    os.replace(backup, self.path)
                elif not self.existed:
                    self.path.unlink()
                else:
                    log.warning(f"{self.path}: replaced, and the previous file could not be kept to restore it")
        except OSError as err:
            log.warning(f"{self.path}: could not be taken back ({err})")
        self.published = None

    def discard(self) -> None:
        if self.direct:
            if self.path.is_dir() and not self.path.is_symlink():
                shutil.rmtree(self.path)
            elif os.path.lexists(self.path):
                self.path.unlink()
            return
        if self.partial is not None:
            _release(self.partial)
            shutil.rmtree(self.partial, ignore_errors=True)
            self.partial = None
        for folder in reversed(self.created_folders):  # folders made for this output, if still empty
            with contextlib.suppress(OSError):
                folder.rmdir()
        self.created_folders = []




def _renameat2_no_replace(source: Path, target: Path) -> bool:
    """Linux ``renameat2(RENAME_NOREPLACE)``: True when done; False where the system or file system lacks it."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_noreplace = -100, 1
    if renameat2(at_fdcwd, os.fsencode(source), at_fdcwd, os.fsencode(target), rename_noreplace) == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    if code in (errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EINVAL), errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def _rename_no_replace(source: Path, target: Path, partial: Path) -> None:
    """Move ``source`` to ``target``, never over an existing file, and never leaving an empty ``target``.

    Windows' rename refuses an existing target; Linux has ``renameat2(RENAME_NOREPLACE)``.
    Elsewhere the name is claimed by creating the folder ``.<name>.exodeepfinder-claim`` (an atomic
    step that fails if another writer holds it), its owner recorded inside, then the name is
    checked and the file renamed; the claim is removed after. A claim left by a killed process
    is removed by the next write of the same output (:func:`remove_stale_partials`).
    """
    if os.name == "nt":
        try:
            os.rename(source, target)
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "already exists", str(target)) from None
        return
    if _renameat2_no_replace(source, target):
        return
    claim = target.parent / f".{target.name}{CLAIM_SUFFIX}"
    try:
        claim.mkdir()
    except FileExistsError:
        remove_stale_partials(target)
        try:
            claim.mkdir()
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, "already exists (another run is publishing it)", str(target)) from None
    try:
        shutil.copyfile(partial / _OWNER, claim / _OWNER)
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "already exists", str(target))
        os.rename(source, target)
    finally:
        shutil.rmtree(claim, ignore_errors=True)


def _make_folders(path: Path) -> list[Path]:
    """Create the missing folders of ``path``; return them (outermost first)."""
    check_writable_folder(path)
    missing = [p for p in [path.parent, *path.parent.parents] if not p.exists()][::-1]
    for folder in missing:
        folder.mkdir(exist_ok=True)
    return missing


def _describe_write_error(err: OSError, outputs) -> OSError:
    """The same error, about the output (not its temporary file), so that the user knows which one."""
    from ..errors import os_error_code, os_error_filename

    filename = os_error_filename(err)
    if filename is not None:
        target = final_path_of(filename)
    elif len(outputs) == 1:
        target = outputs[0].path
    else:
        folders = {o.path.parent for o in outputs}
        target = folders.pop() if len(folders) == 1 else outputs[0].path
    code = os_error_code(err)
    if code is None:
        return OSError(None, str(err).split(" (")[0], str(target))
    return OSError(code, os.strerror(code), str(target))


@contextlib.contextmanager
def atomic_outputs(paths, *, overwrite: bool = False):
    """Write several files that appear together or not at all.

    Parameters
    ----------
    paths : sequence or dict of str or Path
        Final locations of the files.
    overwrite : bool
        Replace files that exist (default: FileExistsError when publishing, an existing file is
        never touched).

    Yields
    ------
    list or dict of Path
        The temporary path of each output (same keys as ``paths``); write each file there. Every
        one must be written.

    Raises
    ------
    FileExistsError
        If an output exists (or appeared meanwhile) and ``overwrite`` is False; nothing is published.
    OSError
        On a write error (disk full, permission denied...), about the output, not its temporary name.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_outputs([folder / "a.txt", folder / "b.txt"]) as (a, b):
    ...     _ = a.write_text("A"), b.write_text("B")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt', 'b.txt']
    """
    keyed = isinstance(paths, dict)
    keys = list(paths) if keyed else list(range(len(paths)))
    outputs = [_Output(Path(paths[key] if keyed else paths[key])) for key in keys]
    seen = set()
    for output in outputs:
        if output.path.resolve() in seen:
            raise InputError(f"{output.path}: given for two outputs")
        seen.add(output.path.resolve())
    try:
        temporary = [output.open() for output in outputs]
        _record_group(outputs)
        yield dict(zip(keys, temporary)) if keyed else temporary
        for output in outputs:
            output.check_written()
        raise_pending_interrupt()  # an interruption a finalizer swallowed must not publish
        published = []
        try:
            for output in outputs:
                output.publish(overwrite)
                published.append(output)
        except BaseException:
            for output in reversed(published):
                output.take_back()
            raise
        _forget_group(outputs)  # all published: a kill from now on leaves a complete group
    except OSError as err:
        if isinstance(err, FileExistsError) and err.filename is not None and \
                any(str(o.path) == str(err.filename) for o in outputs):
            raise
        raise _describe_write_error(err, outputs) from err
    finally:
        for output in reversed(outputs):  # the first output made the folders: it removes them last
            output.discard() if output.published is None else _cleanup(output)


def _record_group(outputs) -> None:
    """Name the group in the partial folder of each output, until the whole group is published.

    A process killed between publishing two outputs of the group leaves these records: the next
    write of an output (or ``exodeepfinder clean``) takes back what it published
    (:func:`~exodeepfinder.io.leftovers.take_back_unfinished_group`).
    """
    if len(outputs) < 2:
        return
    names = json.dumps([str(output.path) for output in outputs])
    for output in outputs:
        if output.partial is not None:
            with contextlib.suppress(OSError):  # without it, a kill while publishing is not undone
                (output.partial / GROUP_RECORD).write_text(names)


def _forget_group(outputs) -> None:
    for output in outputs:
        if output.partial is not None:
            with contextlib.suppress(OSError):
                (output.partial / GROUP_RECORD).unlink()


def _cleanup(output: _Output) -> None:
    """After a successful publish: remove the partial folder (its file now lives under the final name)."""
    if output.partial is not None:
        _release(output.partial)
        shutil.rmtree(output.partial, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path, *, overwrite: bool = False):
    """Yield a temporary path for ``path``; publish it as ``path`` only if the block succeeds.

    The temporary file has the same name as ``path``, in a partial folder beside it (see the
    module's description). On error or cancel it is removed and ``path`` is left untouched.

    Parameters
    ----------
    path : str or Path
        Final location of the file.
    overwrite : bool
        If False and ``path`` exists when the file is complete, raise FileExistsError (the check
        and the publishing are one step); the existing file is never touched.
    """
    with atomic_outputs([path], overwrite=overwrite) as (temporary,):
        yield temporary
