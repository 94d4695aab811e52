"""int8 post-training quantization of the U-Net's OpenVINO graph with NNCF, cached on disk.

On a CPU, 8-bit integer convolutions do twice the float32 multiply-adds per cycle with AVX2 and
four times with VNNI or AMX. :func:`quantize_graph` inserts 8-bit quantizers on the weights (per
output channel, symmetric) and on the activations (per tensor; NNCF's ``MIXED`` preset: asymmetric
activations, which the ReLU outputs need) of the graph built by
:mod:`exodeepfinder.inference.openvino_graph`, their ranges set from a handful of calibration
windows (:func:`calibration_windows`: movies of the package's simulator with randomised
conditions, fixed seeds, normalised and zero-padded as the segmentation does), then corrects the
biases for the rounding (``fast_bias_correction``).

The quantized graph keeps the dynamic ``[batch, 1, t, y, x]`` input: one quantization serves every
window shape. It is saved in ``<cache_dir()>/openvino/int8/<key>/`` (:func:`int8_cache_folder`),
the key made of the weights digest (which includes the graph's version), NNCF's version and
:data:`CALIBRATION_VERSION`: only the first run with given weights pays the quantization (about
half a minute on 2 cores), for the bundled model, the official weights or any weights file.

Each quantization is checked against float32 on other simulated windows (:data:`CHECK_SEEDS`): the
share of event voxels both label as events (intersection over union, :func:`int8_agreement`),
kept beside the graph (``check.json``). ``precision="auto"`` runs int8 only for weights whose check
reaches :data:`MIN_EVENT_IOU` (:func:`int8_passes`); ``precision="int8"`` runs it whatever the check.
Below :data:`RETRY_EVENT_IOU`, the weights are quantized a second time with the first and last
convolutions in float32, and the better of the two kept.
The accuracy measured against float32 (events found on simulated movies) is in docs/segment.md.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

#: Changes whenever the calibration data or the quantization settings change (part of the cache key).
CALIBRATION_VERSION = "sim6-mixed-fbc-2"
#: Seeds of the calibration movies (``simulate_randomized``; apart from the benchmarks' 10000-19999).
CALIBRATION_SEEDS = (31_001, 31_002, 31_003)
#: Seeds of the movies on which each quantization is checked against float32.
CHECK_SEEDS = (31_011, 31_012, 31_013)
#: Below this intersection over union of the event voxels of int8 and float32 on the check windows,
#: the weights are quantized again with the first and last convolutions in float32.
RETRY_EVENT_IOU = 0.97
#: Least intersection over union of the event voxels for ``precision="auto"`` to choose int8: a
#: guard against gross failures (an earlier int8 model of the official weights tripled the false
#: events); the events found are compared in docs/segment.md. The bundled model: 0.961.
MIN_EVENT_IOU = 0.9
#: Shape of each calibration movie (frames, height, width).
CALIBRATION_MOVIE = (48, 128, 128)
#: Shape of each calibration window (t, y, x): two windows per movie, one at a corner (with the
#: zero padding around the movie) and one inside.
CALIBRATION_WINDOW = (32, 128, 128)

_lock = threading.Lock()
_checks = {}  # cache key -> check of the quantizations of this process (when the disk cache is read-only)


def import_nncf():
    """The ``nncf`` module, or None if it is not installed (or cannot load)."""
    try:
        import nncf
    except ImportError:
        return None
    return nncf


def nncf_version() -> str | None:
    """NNCF's version, or None without NNCF."""
    nncf = import_nncf()
    return None if nncf is None else nncf.__version__.split("+")[0]


def calibration_windows(seeds=None) -> list[np.ndarray]:
    """Windows of the movies of ``seeds`` (default :data:`CALIBRATION_SEEDS`), float32 ``[1, 1, t, y, x]`` each.

    Normalised and zero-padded as segmentation does: two windows per movie, at a corner and inside.
    """
    from ..simulation import simulate_randomized
    from .normalize import normalize_frames
    from .tiling import PAD

    t, y, x = CALIBRATION_WINDOW
    windows = []
    for seed in CALIBRATION_SEEDS if seeds is None else seeds:
        movie = simulate_randomized(CALIBRATION_MOVIE, seed=seed).movie
        padded = np.pad(normalize_frames(movie), PAD).astype(np.float32)
        inner = [(s - w) // 2 for s, w in zip(padded.shape, (t, y, x))]
        for t0, y0, x0 in ((0, 0, 0), inner):
            windows.append(np.ascontiguousarray(padded[None, None, t0:t0 + t, y0:y0 + y, x0:x0 + x]))
    return windows


def quantize_graph(graph, windows=None, float_ends: bool = False):
    """``graph`` (an ``openvino.Model``) with int8 convolutions, calibrated on ``windows``.

    Parameters
    ----------
    graph : openvino.Model
        The U-Net graph (:func:`~exodeepfinder.inference.openvino_graph.unet_graph`); not modified.
    windows : list of ndarray, optional
        Calibration inputs ``float32 [1, 1, t, y, x]`` (default: :func:`calibration_windows`).
    float_ends : bool
        Keep the first and the last convolutions in float32 (they read the normalised movie and
        write the class logits; < 1% of the operations).

    Returns
    -------
    openvino.Model
        The quantized graph, with the same dynamic input.
    """
    nncf = _require_nncf()
    windows = calibration_windows() if windows is None else windows
    options = {}
    if float_ends:
        convolutions = [op.get_friendly_name() for op in graph.get_ordered_ops() if op.get_type_name() == "Convolution"]
        options["ignored_scope"] = nncf.IgnoredScope(names=[convolutions[0], convolutions[-1]])
    quiet = logging.getLogger("nncf")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    # NNCF draws progress bars on stdout (a library prints nothing), and its statistics meet 0 * inf
    # in channels that never fire (NumPy warnings of its own arithmetic, not of ours)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()), \
                np.errstate(all="ignore"):
            return nncf.quantize(graph.clone(), nncf.Dataset(windows), preset=nncf.QuantizationPreset.MIXED,
                                 subset_size=len(windows), fast_bias_correction=True, **options)
    finally:
        quiet.setLevel(level)


def int8_agreement(graph, quantized, windows=None) -> dict:
    """How the labels of ``quantized`` agree with those of ``graph`` (float32) on ``windows``.

    Returns
    -------
    dict
        ``event_iou``: voxels both label as events over voxels either does (1.0 when neither
        does); ``voxels_agreeing``: share of voxels with the same label.
    """
    from .openvino_runtime import core

    windows = calibration_windows(CHECK_SEEDS) if windows is None else windows
    labels = {}
    for name, model in (("float32", graph), ("int8", quantized)):
        labels[name], compiled = [], {}
        for window in windows:
            if window.shape not in compiled:
                shaped = model.clone()
                shaped.reshape(list(window.shape))
                compiled[window.shape] = core().compile_model(shaped, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
            labels[name].append(np.argmax(compiled[window.shape](window)[0], axis=1))
    reference, quantized_labels = (np.concatenate(labels[name]) for name in ("float32", "int8"))
    both = np.sum((reference == 2) & (quantized_labels == 2))
    either = np.sum((reference == 2) | (quantized_labels == 2))
    return {"event_iou": float(both / either) if either else 1.0,
            "voxels_agreeing": float(np.mean(reference == quantized_labels))}


def int8_check(digest: str) -> dict | None:
    """The check of the cached int8 graph of weights ``digest`` (:func:`int8_agreement`), or None."""
    import json

    folder = int8_cache_folder(digest)
    try:
        return json.loads((folder / "check.json").read_text())
    except (OSError, ValueError):
        return _checks.get(folder.name)


def int8_passes(check: dict | None) -> bool:
    """True if ``check`` (:func:`int8_check`) lets ``precision="auto"`` choose int8."""
    return check is not None and check.get("event_iou", 0.0) >= MIN_EVENT_IOU


def _require_nncf():
    from ..errors import InputError

    nncf = import_nncf()
    if nncf is None:
        raise InputError("precision 'int8': NNCF is not installed; install it with 'pip install nncf', "
                         "or use --precision fast or fp32")
    return nncf


def int8_cache_key(digest: str) -> str:
    """The cache key of the int8 graph of weights ``digest``: digest, NNCF version, calibration version."""
    return f"{digest}-nncf{nncf_version()}-{CALIBRATION_VERSION}"


def int8_cache_folder(digest: str) -> Path:
    """Where the int8 graph of weights ``digest`` is kept (``model.xml`` and ``model.bin``)."""
    from .openvino_runtime import openvino_cache_dir

    return openvino_cache_dir() / "int8" / int8_cache_key(digest)


def is_quantized(digest: str) -> bool:
    """True if the int8 graph of weights ``digest`` is on disk (loading it will not quantize)."""
    return (int8_cache_folder(digest) / "model.xml").is_file()


def int8_graph(graph, digest: str):
    """The int8 version of ``graph`` (weights ``digest``): read from the disk cache, else quantized and saved.

    The first time, the quantization is also checked against ``graph`` (:func:`int8_agreement`);
    below :data:`RETRY_EVENT_IOU`, the weights are quantized again with the first and last
    convolutions in float32 (``float_ends``), and the better of the two kept, with its check.
    Reading the cache needs no NNCF; a read-only cache folder only means quantizing once per
    process (the check is kept in memory).
    """
    from .openvino_runtime import core

    folder = int8_cache_folder(digest)
    with _lock:
        if (folder / "model.xml").is_file():
            try:
                return core().read_model(str(folder / "model.xml"))
            except RuntimeError:
                shutil.rmtree(folder, ignore_errors=True)  # a damaged entry: quantize again
        quantized = quantize_graph(graph)
        check = {**int8_agreement(graph, quantized), "float_ends": False}
        if check["event_iou"] < RETRY_EVENT_IOU:
            retry = quantize_graph(graph, float_ends=True)
            retry_check = {**int8_agreement(graph, retry), "float_ends": True}
            tried = [check["event_iou"], retry_check["event_iou"]]
            if retry_check["event_iou"] > check["event_iou"]:
                quantized, check = retry, retry_check
            check["tried_event_iou"] = tried
        _checks[folder.name] = check
        _save(quantized, check, folder)
        return quantized


def _save(model, check: dict, folder: Path) -> None:
    """Save ``model`` and its ``check`` in ``folder`` atomically (written beside it, then renamed).

    Errors only skip the cache.
    """
    import json

    import openvino as ov

    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError:
        return
    try:
        ov.save_model(model, str(partial / "model.xml"), compress_to_fp16=False)
        (partial / "check.json").write_text(json.dumps(check))
        os.replace(partial, folder)
    except (OSError, RuntimeError):
        shutil.rmtree(partial, ignore_errors=True)  # e.g. another process saved it first
