"""Remove what interrupted runs left behind: partial outputs, publishing claims, training caches, scratch folders.

A run killed by SIGKILL, a crash or a power cut cannot remove its partial outputs
(``.<output>.<pid>-<token>.exodeepfinder-partial/``), and a training run its memory-map cache.
The next run writing the same output removes them; this command finds them all under FOLDER
(default: the current folder) and removes the abandoned ones: those of processes of this
machine that no longer run, and those of other machines (a shared drive) whose lease expired
(their writer renews it every minute; after 15 minutes without renewal they are abandoned).
Folders in use are listed and kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import run_command

NAME = "clean"
BATCH_PATHS = None


def add_arguments(parser):
    parser.add_argument("folder", nargs="?", type=Path, default=Path("."),
                        help="folder to clean, with its subfolders (default: the current folder)")
    parser.add_argument("--temporary", action="store_true",
                        help="also the package's scratch folders in the system's temporary folder")
    parser.add_argument("--dry_run", action="store_true", help="only list what would be removed")


def run(args):
    from ..io.leftovers import clean

    if not args.folder.is_dir():
        raise InputError(f"{args.folder}: folder not found")
    results = clean(args.folder, temporary=args.temporary, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for path, reason in results:
        print(f"{verb} {path} ({reason})" if reason else f"kept {path} (in use)")
    removed = sum(reason is not None for _, reason in results)
    print(f"{removed} folder(s) {verb}, {len(results) - removed} in use" if results else "nothing to clean")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
