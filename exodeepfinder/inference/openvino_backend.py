"""The U-Net on the CPU with OpenVINO, converted once per weights and compiled once per window shape.

Converting the PyTorch module (``openvino.convert_model``) takes seconds, and compiling it for
a window shape a fraction of that, so both are cached:

- the converted model, in memory by weights (a digest of the parameters) and on disk as
  OpenVINO IR in ``<cache_dir()>/openvino/`` (:func:`exodeepfinder.model.weights.cache_dir`);
- the compiled model for the last window shape, in memory (it holds that shape's working
  memory, so only one is kept), and OpenVINO's own compiled-blob cache (``CACHE_DIR``) in
  ``<cache_dir()>/openvino/compiled/`` (the :data:`KEEP_COMPILED_BLOBS` most recent shapes).

The model is converted from a small example with dynamic t, y and x, then reshaped to each
window shape (converting with a full-size example takes minutes and tens of GB). The converted
graph computes the same function as :class:`~exodeepfinder.model.unet.UNet` but never
concatenates the upsampled features with the skip connections: the convolution after each
concatenation is split into two convolutions that are added, which saves the largest
full-resolution buffer (20% of the memory per voxel).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

#: Changes whenever the converted graph changes, so that stale IR on disk is not reused.
GRAPH_VERSION = "lean-1"

_lock = threading.Lock()
_converted = OrderedDict()   # weights digest -> openvino.Model (dynamic shape)
_compiled = OrderedDict()    # (weights digest, window shape, inference precision) -> CompiledModel
_KEEP_CONVERTED = 4
# A compiled model holds the working memory of its shape: keep only the last one.
_KEEP_COMPILED = 1
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
    """Where converted models (IR) and OpenVINO's compiled blobs are kept."""
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


def cpu_computes_bfloat16() -> bool:
    """True if OpenVINO can run bfloat16 natively on this CPU (AMX or AVX512-BF16)."""
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def weights_digest(model) -> str:
    """A digest of ``model``'s parameters (and of the converted graph's version)."""
    digest = hashlib.sha256(GRAPH_VERSION.encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def lean_network(model):
    """A torch module computing ``model`` (a UNet) without concatenations, for conversion."""
    import torch
    import torch.nn.functional as F

    class LeanUNet(torch.nn.Module):
        def __init__(self, unet):
            super().__init__()
            self.unet = unet

        def _concat_conv(self, index, x, skip):
            """``conv(cat([x, skip]))`` as ``conv_x(x) + conv_skip(skip)``: no concatenated buffer."""
            conv = self.unet.convs[index]
            n = x.shape[1]
            out = F.conv3d(x, conv.weight[:, :n], conv.bias, padding=1)
            return F.relu(out + F.conv3d(skip, conv.weight[:, n:], None, padding=1))

        def forward(self, x):
            unet = self.unet
            x = unet._conv(1, unet._conv(0, x))
            skip_a = x
            x = unet._conv(3, unet._conv(2, unet._pool(x)))
            skip_b = x
            x = unet._pool(x)
            for i in range(4, 8):
                x = unet._conv(i, x)
            x = self._concat_conv(9, unet._conv(8, unet._upsample(x)), skip_b)
            x = unet._conv(10, x)
            x = self._concat_conv(12, unet._conv(11, unet._upsample(x)), skip_a)
            x = unet._conv(13, x)
            x = unet._conv(14, x, relu=False)
            return torch.softmax(x, dim=1) if unet.softmax else x

    for index in (9, 12):
        conv = model.convs[index]
        assert conv.kernel_size == (3, 3, 3) and conv.padding == (1, 1, 1), "unexpected U-Net layout"
    return LeanUNet(model).eval()


def _convert(model):
    """``model`` (a UNet) as an ``openvino.Model`` with a dynamic ``[batch, 1, t, y, x]`` input."""
    import torch

    openvino = _require_openvino()
    network = lean_network(copy_to_cpu(model))
    with torch.no_grad():
        return openvino.convert_model(network, example_input=torch.zeros(1, 1, 8, 16, 16),
                                      input=[openvino.PartialShape([-1, 1, -1, -1, -1])])


def copy_to_cpu(model):
    import copy

    return copy.deepcopy(model).float().cpu().eval()


def converted_model(model, digest: str):
    """The converted (dynamic-shape) model of these weights: from memory, the disk cache, or converted now."""
    with _lock:
        if digest in _converted:
            _converted.move_to_end(digest)
            return _converted[digest]
    ir = openvino_cache_dir() / f"unet-{digest}.xml"
    converted = None
    if ir.is_file() and ir.with_suffix(".bin").is_file():
        try:
            converted = core().read_model(str(ir))
        except RuntimeError:
            converted = None  # a damaged cache file: convert again
    if converted is None:
        converted = _convert(model)
        _save_ir(converted, ir)
    with _lock:
        _converted[digest] = converted
        while len(_converted) > _KEEP_CONVERTED:
            _converted.popitem(last=False)
    return converted


def _save_ir(converted, path: Path):
    """Write the IR pair (.xml, .bin) so that a reader never sees half of it; skip if not writable."""
    openvino = _require_openvino()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".unet-", dir=path.parent) as scratch:
            scratch_xml = Path(scratch) / path.name
            openvino.save_model(converted, str(scratch_xml), compress_to_fp16=False)
            os.replace(scratch_xml.with_suffix(".bin"), path.with_suffix(".bin"))
            os.replace(scratch_xml, path)
    except (OSError, RuntimeError):
        pass


def compiled_model(model, digest: str, shape: tuple, inference_precision: str):
    """The network compiled for input ``shape`` (cached: see the module docstring)."""
    key = (digest, tuple(shape), inference_precision)
    with _lock:
        if key in _compiled:
            _compiled.move_to_end(key)
            return _compiled[key]
        # Free the previous shape's working memory before allocating this one's.
        while len(_compiled) >= _KEEP_COMPILED:
            _compiled.popitem(last=False)
    converted = converted_model(model, digest).clone()
    converted.reshape(list(shape))
    compiled = core().compile_model(converted, "CPU", {"INFERENCE_PRECISION_HINT": inference_precision,
                                                       "PERFORMANCE_HINT": "LATENCY"})
    with _lock:
        _compiled[key] = compiled
    return compiled


def clear_cache():
    """Forget the converted and compiled models held in memory (the disk cache stays)."""
    with _lock:
        _converted.clear()
        _compiled.clear()


class OpenVinoRunner:
    """The U-Net with OpenVINO on the CPU: bfloat16 for ``precision="fast"`` where the CPU has it, else float32."""

    engine = "openvino"
    batching = False  # one window per call: every call has the same shape, compiled once
    max_window_voxels = None

    def __init__(self, model, precision: str):
        from .backends import BYTES_PER_VOXEL

        openvino = _require_openvino()
        self.model = model
        self.digest = weights_digest(model)
        bfloat16 = precision == "fast" and cpu_computes_bfloat16()
        self.inference_precision = "bf16" if bfloat16 else "f32"
        self.bytes_per_voxel = BYTES_PER_VOXEL[("openvino", self.inference_precision)]
        self.description = f"OpenVINO {openvino.__version__.split('-')[0]} on cpu, {self.inference_precision}"
        self._request = None

    def __call__(self, windows, keep):
        """Class probabilities ``float32 [batch, 3, ...]`` of ``windows[..., keep]`` (keep: t, y, x slices)."""
        import numpy as np

        shape = tuple(windows.shape)
        if self._request is None or self._request[0] != shape:
            self._request = None  # let the previous shape's memory go before compiling this one
            compiled = compiled_model(self.model, self.digest, shape, self.inference_precision)
            self._request = (shape, compiled.create_infer_request())
        request = self._request[1]
        # start_async + wait: the GIL is released while OpenVINO computes, so the reading thread
        # normalises the next block meanwhile
        request.start_async({0: np.ascontiguousarray(windows)}, share_inputs=True)
        request.wait()
        output = request.get_output_tensor(0).data
        return np.array(output[(slice(None), slice(None)) + tuple(keep)])
