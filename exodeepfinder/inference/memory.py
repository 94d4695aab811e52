"""The memory budget of a segmentation: parsing ``max_memory`` and the default taken from the free RAM.

The budget bounds the peak memory of the process while it segments. Part of it is taken by
the process itself (Python, PyTorch, OpenVINO and the model: :data:`PROCESS_MEMORY`); the rest
is shared by the network's working memory and the arrays of one block of frames, which
:func:`exodeepfinder.inference.tiling.plan_tiling` sizes to fit. It does not depend on the
length of the movie.
"""

from __future__ import annotations

import os
import re

GiB = 1024 ** 3
#: Default budget when the machine has plenty of free memory (peak RSS stays below 4 GiB).
DEFAULT_MAX_MEMORY = 3.5 * GiB
#: Smallest default budget, used when even less memory is free.
MIN_DEFAULT_MAX_MEMORY = 1 * GiB
#: Share of the currently available RAM the default budget may take.
AVAILABLE_SHARE = 0.6
#: Memory of the process before any window is allocated (interpreter, PyTorch, OpenVINO, model).
PROCESS_MEMORY = 0.5 * GiB
#: Working memory granted even when ``max_memory`` leaves less than this after :data:`PROCESS_MEMORY`.
MIN_WORKING_MEMORY = 64 * 1024 ** 2

#: Bytes per voxel of a network window, by (engine, arithmetic): the engine's working memory plus
#: input and output buffers. Measured from the peak RSS of whole segmentations on 400 x 300
#: frames (OpenVINO 2026.4: 525 B in float32; PyTorch 2.13, channels-last: 790-1080 B) and of
#: single windows of 16 and 40 x 452 x 352 voxels (``bench/segment.py --memory_probe``, OpenVINO
#: 2026.4.1: float32 556 B per voxel, int8 204 B: its activations are 8-bit); the 16-bit figures
#: are estimates (about half the float32 activations).
BYTES_PER_VOXEL = {
    ("torch", "float32"): 1000,
    ("torch", "bfloat16"): 600,
    ("torch", "float16"): 600,
    ("openvino", "f32"): 550,
    ("openvino", "bf16"): 350,
    ("openvino", "int8"): 220,
}

#: Bytes per voxel of a chunk of a streamed segmentation and bytes per pixel of the features it keeps between
#: chunks, by (engine, arithmetic) (:mod:`exodeepfinder.inference.streaming`). A chunk costs more per voxel
#: than a window: each convolution reads its input joined to the cached frames, a copy of its own.
#: Measured from the peak RSS of chunks of 10-30 frames of 256 x 256 and 18-24 frames of 520 x 520 (OpenVINO
#: 2026.4.1, the reference network: int8 474 B per voxel and 2.2 kB per pixel, whose cached frames are
#: 8-bit codes; float32 1300 B and 8.4 kB, planned with a margin: 250 x 400 x 300 in chunks of 8 frames of
#: 452 x 352 peaked at 3.50 GiB where 1300 B planned 3.39); bfloat16 is taken as float32's.
STREAM_BYTES = {
    ("openvino", "f32"): (1500, 9000),
    ("openvino", "bf16"): (1500, 9000),
    ("openvino", "int8"): (480, 2300),
}

_UNITS = {"": 1, "B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def parse_memory(text) -> int:
    """Bytes from a memory size such as ``"2GB"``, ``"512MB"``, ``"1.5G"``, ``"800MiB"`` or ``"1000000"``.

    Units are powers of 1024 (K, M, G, T, with an optional ``B``, ``iB``); a plain number is bytes.

    Raises
    ------
    ValueError
        Naming ``max_memory``, if ``text`` is not a positive size.
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(I?B)?\s*", str(text), re.IGNORECASE)
        if match is None or (match.group(3) and match.group(3).upper() == "IB" and not match.group(2)):
            raise ValueError(f"max_memory: expected a size such as 2GB, 512MB or 1.5G, got {text!r}")
        value, unit = float(match.group(1)), match.group(2).upper()
    size = int(value * _UNITS[unit])
    if size <= 0:
        raise ValueError(f"max_memory: must be positive, got {text!r}")
    return size


def available_memory() -> int | None:
    """Bytes of RAM available to new allocations now, or None if unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def default_max_memory() -> int:
    """The default budget: :data:`DEFAULT_MAX_MEMORY`, or less on a machine with little free RAM."""
    available = available_memory()
    if available is None:
        return int(DEFAULT_MAX_MEMORY)
    return int(max(min(DEFAULT_MAX_MEMORY, AVAILABLE_SHARE * available), MIN_DEFAULT_MAX_MEMORY))


def working_memory(max_memory=None) -> int:
    """Bytes left for the network and the block arrays under ``max_memory`` (None: the default)."""
    budget = default_max_memory() if max_memory is None else parse_memory(max_memory)
    return int(max(budget - PROCESS_MEMORY, MIN_WORKING_MEMORY))


def budget_beside(max_memory, held_bytes: int) -> int:
    """The budget left to a segmentation beside ``held_bytes`` already taken (e.g. a movie read into memory).

    ``max_memory`` (None: the default budget) less ``held_bytes``, never below what the process
    itself needs plus the smallest working memory (:data:`PROCESS_MEMORY` + :data:`MIN_WORKING_MEMORY`).
    """
    budget = default_max_memory() if max_memory is None else parse_memory(max_memory)
    return int(max(budget - int(held_bytes), PROCESS_MEMORY + MIN_WORKING_MEMORY))


#: Movies up to this size are read into memory (faster measurements); larger ones are read lazily.
IN_MEMORY_BYTES = 2 * 1024 ** 3
#: Bytes per voxel of a segmentation held in memory: the labels (int8) and the 3 class probabilities (float16).
SEGMENTATION_BYTES_PER_VOXEL = 1 + 3 * 2


def in_memory_limit(max_memory=None) -> int:
    """Movies up to this many bytes are read into memory: :data:`IN_MEMORY_BYTES`, and at most a quarter
    of the memory budget (``max_memory``, else the default one) so that the segmentation keeps the rest."""
    budget = default_max_memory() if max_memory is None else parse_memory(max_memory)
    return int(min(IN_MEMORY_BYTES, budget // 4))
