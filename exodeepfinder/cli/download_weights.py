"""Download the official ExoDeepFinder weights into the user cache (checked by sha256).

Every command that runs the network then uses them by default (unless --model_weights or
EXODEEPFINDER_WEIGHTS says otherwise). The cache folder is ~/.cache/exodeepfinder (or
$XDG_CACHE_HOME/exodeepfinder); EXODEEPFINDER_CACHE overrides it. --url takes another address
of the same file, e.g. a mirror or a local copy (file:///path/to/net_weights_FINAL.h5).
"""

from __future__ import annotations

import sys

from ._common import run_command

NAME = "download_weights"
BATCH_PATHS = None


def add_arguments(parser):
    from ..model.download import OFFICIAL_URL

    parser.add_argument("--url", default=OFFICIAL_URL,
                        help="address of the official weights file (https://, or file:// for a local copy)")
    parser.add_argument("--progress", action="store_true", help="show a download progress bar")


def run(args):
    from ..model import download
    from ..model.weights import official_weights_path

    destination = official_weights_path()
    print(f"fetching the official ExoDeepFinder weights from {args.url}", flush=True)
    path, action = download.download_weights(args.url, sha256=download.OFFICIAL_SHA256, destination=destination,
                                             progressbar=args.progress)
    print(f"{action}: {path} (sha256 verified)")


def main(argv=None):
    return run_command(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
