"""What killed runs leave behind (partial, claim and scratch folders), found and removed when abandoned."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from pathlib import Path

from ..partial import _PARTIAL_NAME, is_partial
from .leases import CLAIM_SUFFIX, _release, stale_reason

log = logging.getLogger("exodeepfinder")


#: In each partial folder of a group of outputs (:func:`~exodeepfinder.io.atomic.atomic_outputs`) until the
#: whole group is published: the group's outputs. A partial folder left with it by a killed process
#: tells that its output may have been published without the rest of its group.
GROUP_RECORD = ".group.exodeepfinder"
#: In a partial folder: the file its output replaced (``overwrite``), kept until the group is published.
REPLACED = ".replaced.exodeepfinder"

#: Scratch folders of earlier versions (no owner record: judged by their age, see :func:`stale_reason`).
LEGACY_SCRATCH_PREFIXES = (".edf_train_cache_",)
#: Scratch folders that versions before the leased work folders made in the system's temporary folder
#: (no owner record: judged by their age).
TEMPORARY_PREFIXES = ("edf_detector_", "edf_atlas_", "exodeepfinder_bioimageio_")


def leftovers(folder, *, temporary: bool = False) -> list[Path]:
    """The partial, claim and scratch folders under ``folder`` (recursively) that killed runs may have left.

    With ``temporary``, also the package's folders in the system's temporary folder. Whether each
    may be removed is :func:`stale_reason`'s call.
    """
    import tempfile

    found = []
    for root, dirs, _ in os.walk(folder):
        keep = []
        for name in dirs:
            path = Path(root) / name
            if is_partial(path) or name.endswith(CLAIM_SUFFIX) or name.startswith(LEGACY_SCRATCH_PREFIXES):
                found.append(path)  # not descended into
            elif not Path(root, name).is_symlink():
                keep.append(name)
        dirs[:] = keep
    if temporary:
        with contextlib.suppress(OSError):
            found += [p for p in Path(tempfile.gettempdir()).iterdir()
                      if p.is_dir() and (p.name.startswith(TEMPORARY_PREFIXES) or is_partial(p))]
    return sorted(found)


def clean(folder, *, temporary: bool = False, dry_run: bool = False) -> list[tuple[Path, str | None]]:
    """Remove what killed runs left under ``folder``; ``[(path, why removed, or None: in use, kept)]``.

    Folders of a running process of this machine, or whose lease another machine still renews,
    are kept.
    """
    results = []
    for path in leftovers(folder, temporary=temporary):
        reason = stale_reason(path)
        if reason is not None and not dry_run:
            take_back_unfinished_group(path, reason)
            _release(path)
            shutil.rmtree(path, ignore_errors=True)
            if os.path.lexists(path):
                reason = None
        results.append((path, reason))
    return results


def take_back_unfinished_group(partial, reason: str = "") -> bool:
    """Undo the publishing of an abandoned partial folder's output if its group was not all published.

    A process killed while it published a group of outputs (:func:`~exodeepfinder.io.atomic.atomic_outputs`
    links them one after the other) leaves some published and the others not: the group record
    still in its partial folder says so. The output it published (the file there is the same
    file) is removed, or the file it replaced is put back, so that the group is as if never
    published; logged as a warning. True if something was taken back.
    """
    partial = Path(partial)
    match = _PARTIAL_NAME.match(partial.name)
    if match is None or not (partial / GROUP_RECORD).is_file():
        return False
    try:
        group = [Path(name).name for name in json.loads((partial / GROUP_RECORD).read_text())]
    except (OSError, ValueError, TypeError):
        group = []
    final, written = partial.parent / match.group("name"), partial / match.group("name")
    why = f" ({reason})" if reason else ""
    others = ", ".join(name for name in group if name != final.name) or "the others"
    try:
        if os.path.lexists(written) and os.path.samestat(os.lstat(written), os.lstat(final)):
            final.unlink()
            log.warning(f"{final}: removed, published without the rest of its outputs ({others}) by an "
                        f"interrupted run{why}")
            return True
        if not os.path.lexists(written) and os.path.lexists(partial / REPLACED):
            os.replace(partial / REPLACED, final)
            log.warning(f"{final}: the earlier file put back, replaced without the rest of its outputs ({others}) "
                        f"by an interrupted run{why}")
            return True
    except OSError:
        pass
    return False


def remove_stale_partials(path) -> list[Path]:
    """Remove the partial folders of output ``path`` left by processes of this machine that no longer run.

    Partial folders of running processes (e.g. another run writing the same output right now)
    and of other machines (on a shared drive) are left alone. Each removal is logged as a warning.

    Returns
    -------
    list of Path
        The partial folders removed.
    """
    path = Path(path)
    removed = []
    claim = path.parent / f".{path.name}{CLAIM_SUFFIX}"
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.") and is_partial(p)]
    except OSError:
        return removed
    if claim.is_dir():
        candidates.append(claim)
    for partial in candidates:
        match = _PARTIAL_NAME.match(partial.name)
        if match is not None and match.group("name") != path.name:
            continue
        reason = stale_reason(partial)
        if reason is None:
            continue
        take_back_unfinished_group(partial, reason)
        if partial.is_dir() and not partial.is_symlink():
            shutil.rmtree(partial, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                partial.unlink()
        if not os.path.lexists(partial):
            removed.append(partial)
            log.warning(f"{path}: removed {partial.name}, left by an interrupted run ({reason})")
    return removed
