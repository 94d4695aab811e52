"""The OpenVINO runtime of the process: the module if installed, one ``Core`` with its compiled-blob cache on disk.

Shared by the float and int8 paths (:mod:`.openvino_backend`, :mod:`.quantize`).
"""

from __future__ import annotations

from pathlib import Path

#: Compiled blobs kept on disk (~4 MB each, one per window shape; movies of other lengths add shapes).
KEEP_COMPILED_BLOBS = 32
_core = None


def import_openvino():
    """The ``openvino`` module, or None if it is not installed (or cannot load)."""
    try:
        import openvino
    except ImportError:
        return None
    return openvino


def _require_openvino():
    from ..errors import InputError

    openvino = import_openvino()
    if openvino is None:
        raise InputError("backend='openvino': OpenVINO is not installed; install it with "
                         "'pip install openvino', or use backend='torch'")
    return openvino


def openvino_cache_dir() -> Path:
    """Where OpenVINO's compiled blobs are kept (in ``compiled/``)."""
    from ..model.weights import cache_dir

    return cache_dir() / "openvino"


def core():
    """The process's ``openvino.Core``, with the compiled-blob cache on disk when it is writable."""
    global _core
    if _core is None:
        openvino = _require_openvino()
        _core = openvino.Core()
        folder = openvino_cache_dir() / "compiled"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _prune(folder, KEEP_COMPILED_BLOBS)
            _core.set_property({"CACHE_DIR": str(folder)})
        except (OSError, RuntimeError):
            pass  # a read-only home: compile every time
    return _core


def _prune(folder: Path, keep: int):
    """Delete all but the ``keep`` most recent files of ``folder`` (one blob per window shape)."""
    files = sorted((f for f in folder.iterdir() if f.is_file()), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[keep:]:
        old.unlink(missing_ok=True)
