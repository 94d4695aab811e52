"""Download the official ExoDeepFinder weights into the user cache, checking their sha256.

The file lands where :func:`exodeepfinder.model.weights.resolve_weights` looks for it
(:func:`exodeepfinder.model.weights.official_weights_path`). Downloads go to a temporary file
beside it, which is moved into place only when its checksum is right: an interrupted or
corrupt download never leaves a file behind.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from ..errors import InputError
from .weights import OFFICIAL_FILENAME, OFFICIAL_SHA256, checksum_path, official_weights_path, sha256sum

#: Public address of the official weights (ExoDeepFinder repository, examples/analyze/in/).
OFFICIAL_URL = ("https://raw.githubusercontent.com/deep-finder/tirfm-deepfinder/master/"
                "examples/analyze/in/net_weights_FINAL.h5")
def _local_path(url: str) -> Path | None:
    """The file a ``file://`` URL (or a plain path) points to; None for a remote URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", ) or (len(parsed.scheme) == 1 and Path(url).exists()):  # a path (C:\... on Windows)
        return Path(url)
    return None


def _copy_local(url, output_file, _pooch):
    """A pooch downloader for ``file://`` URLs (pooch itself only knows network protocols)."""
    source = _local_path(url)
    if not source.is_file():
        raise InputError(f"{url}: file not found")
    shutil.copyfile(source, output_file)


def download_weights(url: str = OFFICIAL_URL, *, sha256: str = OFFICIAL_SHA256, destination=None,
                     progressbar: bool = False) -> tuple[Path, str]:
    """Fetch a weights file from ``url`` into ``destination`` and verify its sha256.

    Parameters
    ----------
    url : str
        ``https://`` (or http, ftp) address, or ``file://`` URL of a local copy.
    sha256 : str
        Expected hex digest; the file is kept only if it matches.
    destination : path, optional
        Where to store the file (default: the user cache, see
        :func:`~exodeepfinder.model.weights.official_weights_path`).
    progressbar : bool
        Show a download progress bar on stderr.

    Returns
    -------
    path : Path
        The verified file.
    action : str
        ``"downloaded"``, ``"replaced"`` (a corrupt copy was there) or ``"already present"``.

    Raises
    ------
    InputError
        If the address cannot be read or the checksum does not match; nothing is left at
        ``destination`` then (a previous correct file stays untouched).
    """
    import pooch

    destination = Path(destination) if destination is not None else official_weights_path()
    sha256 = sha256.lower()
    existed = destination.is_file()
    if existed and sha256sum(destination) == sha256:
        _record_checksum(destination, sha256)
        return destination, "already present"
    created_folder = not destination.parent.exists()
    local = _local_path(url)
    downloader = _copy_local if local is not None else pooch.HTTPDownloader(progressbar=progressbar) \
        if urlparse(url).scheme in ("http", "https") else None
    if local is not None and not local.is_file():
        raise InputError(f"{url}: file not found")
    try:
        pooch.retrieve(url, known_hash=f"sha256:{sha256}", fname=destination.name, path=destination.parent,
                       downloader=downloader, progressbar=progressbar)
    except ValueError as err:
        _remove_empty(destination.parent, created_folder)
        if "hash" in str(err).lower():
            got = _reported_hash(str(err))
            raise InputError(f"{url}: sha256 mismatch ({'got ' + got + ', ' if got else ''}expected {sha256}); "
                             "file not saved") from None
        raise InputError(f"{url}: cannot download ({' '.join(str(err).split())})") from None
    except InputError:
        _remove_empty(destination.parent, created_folder)
        raise
    except Exception as err:  # requests, ftplib and OS errors: the address could not be read
        _remove_empty(destination.parent, created_folder)
        message = " ".join(str(err).split()) or type(err).__name__
        raise InputError(f"{url}: cannot download ({message})") from None
    _record_checksum(destination, sha256)
    return destination, "replaced" if existed else "downloaded"


def _record_checksum(destination: Path, sha256: str) -> None:
    """Keep the sha256 beside the file: each later load re-hashes it (see ``verify_cached_weights``)."""
    from ..io.atomic import atomic_output

    record = checksum_path(destination)
    text = f"{sha256}  {destination.name}\n"
    if not record.is_file() or record.read_text() != text:
        with atomic_output(record, overwrite=True) as tmp:
            Path(tmp).write_text(text)


def _reported_hash(message: str) -> str:
    """The actual hash quoted in pooch's mismatch message, if any."""
    import re

    found = re.findall(r"[0-9a-f]{64}", message)
    return found[-1] if found else ""


def _remove_empty(folder: Path, created: bool) -> None:
    if created and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


__all__ = ["OFFICIAL_FILENAME", "OFFICIAL_SHA256", "OFFICIAL_URL", "download_weights", "sha256sum"]
