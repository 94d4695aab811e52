"""Who holds a partial or work folder: an owner record renewed as a lease, and when a folder is abandoned.

A partial folder (:mod:`~exodeepfinder.io.atomic`) or a work folder (:func:`make_work_folder`) holds
an owner record (process, machine, start time) that its writer touches every :data:`RENEW_SECONDS`;
:func:`stale_reason` says when a folder is abandoned: its process no longer runs (this machine), or
its lease expired (another machine, or no record).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

from ..partial import _PARTIAL_NAME, PARTIAL_SUFFIX

# written into each partial folder first: who writes it (to tell a crashed writer from a running one)
_OWNER = ".owner.exodeepfinder"
#: Folder claiming an output name while it is published without hard links (see :func:`_rename_no_replace`).
CLAIM_SUFFIX = ".exodeepfinder-claim"


def _process_start(pid: int):
    """When process ``pid`` started (Linux: clock ticks since boot), to tell a reused pid; None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _process_running(pid: int, started=None) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process on Windows
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return kernel32.GetLastError() == 5  # access denied: it exists
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, run by someone else
        return True
    now = _process_start(pid)
    return started is None or now is None or now == started


def _owner(partial: Path) -> dict:
    match = _PARTIAL_NAME.match(partial.name)
    owner = {"pid": int(match.group("pid"))} if match is not None else {}
    try:
        owner.update(json.loads((partial / _OWNER).read_text()))
    except (OSError, ValueError):
        pass  # killed before it wrote its owner: the pid in the name is all there is
    return owner


#: A partial folder is held by a lease: its writer touches its owner record every RENEW_SECONDS; one
#: whose record is older than LEASE_SECONDS is abandoned, whichever machine wrote it.
LEASE_SECONDS = 15 * 60
RENEW_SECONDS = 60
_HELD: set = set()
_RENEWER = None
_HELD_LOCK = threading.Lock()


def _renew_leases() -> None:
    while True:
        time.sleep(RENEW_SECONDS)
        with _HELD_LOCK:
            held = list(_HELD)
        for folder in held:
            with contextlib.suppress(OSError):
                os.utime(folder / _OWNER)


def _hold(folder: Path) -> None:
    """Write the owner record of a partial folder and keep its lease renewed while this process holds it."""
    global _RENEWER
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": _process_start(os.getpid()),
             "lease_seconds": LEASE_SECONDS,
             "command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:])[:500] if sys.argv else ""}
    (folder / _OWNER).write_text(json.dumps(owner))
    with _HELD_LOCK:
        _HELD.add(folder)
        if _RENEWER is None or not _RENEWER.is_alive():
            _RENEWER = threading.Thread(target=_renew_leases, name="exodeepfinder-lease", daemon=True)
            _RENEWER.start()


def _release(folder) -> None:
    with _HELD_LOCK:
        _HELD.discard(Path(folder))


def stale_reason(partial) -> str | None:
    """Why a partial (or claim, or work) folder is abandoned and may be removed; None while it may be in use.

    A folder of this machine is abandoned when its process no longer runs. One of another machine
    (a shared drive), or without an owner record, only when its lease expired: its record (or the
    folder) was not touched for :data:`LEASE_SECONDS` (a live writer renews it every minute).
    """
    partial = Path(partial)
    owner = _owner(partial)
    record = partial / _OWNER
    try:
        touched = (record if record.exists() else partial).stat().st_mtime
    except OSError:
        return None
    age = time.time() - touched
    if "host" in owner and owner["host"] == socket.gethostname() and "pid" in owner:
        if not _process_running(owner["pid"], owner.get("started")):
            return f"process {owner['pid']} no longer runs"
        return None
    lease = owner.get("lease_seconds", LEASE_SECONDS) if isinstance(owner.get("lease_seconds"), (int, float)) \
        else LEASE_SECONDS
    if age > lease:
        where = f" on {owner['host']}" if "host" in owner else ""
        return f"its lease expired: untouched for {age / 60:.0f} min (process {owner.get('pid', '?')}{where})"
    return None


def make_work_folder(parent, name: str) -> Path:
    """A scratch folder ``.<name>.<pid>-<token>.exodeepfinder-partial`` in ``parent``, held by a lease.

    ``exodeepfinder clean`` (and the next write of ``parent/name``) removes it if this process is
    killed; remove it with :func:`remove_work_folder`.
    """
    folder = Path(parent) / f".{name}.{os.getpid()}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    folder.mkdir()
    _hold(folder)
    return folder


def release_work_folder(folder) -> None:
    """Stop holding a work folder (its owner record removed, e.g. before it is renamed into place)."""
    _release(Path(folder))
    with contextlib.suppress(OSError):
        (Path(folder) / _OWNER).unlink()


def remove_work_folder(folder) -> None:
    """Remove a folder made by :func:`make_work_folder`."""
    _release(Path(folder))
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def work_folder(parent, name: str):
    """:func:`make_work_folder` as a context manager: the folder, removed on leaving.

    Unlike :class:`tempfile.TemporaryDirectory`, the folder holds its owner record, so
    ``exodeepfinder clean --temporary`` keeps it for as long as this process runs, however long.
    """
    folder = make_work_folder(parent, name)
    try:
        yield folder
    finally:
        remove_work_folder(folder)
