"""The U-Net on the CPU with OpenVINO: its graph built once per weights, compiled once per window shape.

The graph is built from the weight arrays with OpenVINO's operation set
(:mod:`exodeepfinder.inference.openvino_graph`): milliseconds, and no PyTorch needed (the
standalone "lite" app has none). In float32 it gives the PyTorch network's class probabilities
(to 1e-4; tests/test_inference_backends.py). Converting the PyTorch module with
``openvino.convert_model``, as before, took seconds.

Caches:

- the graph (dynamic t, y and x), in memory by weights (a digest of the arrays);
- the compiled model for the last window shape, in memory (it holds that shape's working
  memory, so only one is kept), and OpenVINO's own compiled-blob cache (``CACHE_DIR``) in
  ``<cache_dir()>/openvino/compiled/`` (the :data:`KEEP_COMPILED_BLOBS` most recent shapes;
  :func:`exodeepfinder.model.weights.cache_dir`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from .openvino_runtime import KEEP_COMPILED_BLOBS, _require_openvino, core, import_openvino, openvino_cache_dir  # noqa: F401

#: Changes whenever the graph changes (part of the weights digest that keys the caches).
GRAPH_VERSION = "opset-1"

_lock = threading.Lock()
_graphs = OrderedDict()      # (weights digest, int8) -> openvino.Model (dynamic shape)
_compiled = OrderedDict()    # (weights digest, window shape, inference precision, int8) -> CompiledModel
_KEEP_GRAPHS = 4
# A compiled model holds the working memory of its shape: keep only the last one.
_KEEP_COMPILED = 1


def cpu_computes_bfloat16() -> bool:
    """True if OpenVINO can run bfloat16 natively on this CPU (AMX or AVX512-BF16)."""
    return "BF16" in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def weights_digest(model) -> str:
    """A digest of ``model``'s weights (a UNet or UNetWeights) and of the graph's version."""
    from ..model.arrays import DEFAULT_WIDTHS, model_widths, unet_arrays

    digest = hashlib.sha256(GRAPH_VERSION.encode())
    if model_widths(model) != DEFAULT_WIDTHS:  # a compact network (the reference network's digests unchanged)
        digest.update(f"widths {model_widths(model)}".encode())
    for index, (weight, bias) in enumerate(unet_arrays(model)):
        for name, array in ((f"convs.{index}.weight", weight), (f"convs.{index}.bias", bias)):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(array, np.float32).tobytes())
    return digest.hexdigest()[:24]


def network_graph(model, digest: str, int8: bool = False):
    """The (dynamic-shape) graph of ``model``'s weights, built once and kept in memory.

    ``int8``: its int8 quantization (:func:`exodeepfinder.inference.quantize.int8_graph`: read
    from the disk cache, or quantized and saved the first time).
    """
    from ..model.arrays import unet_arrays
    from .openvino_graph import unet_graph

    key = (digest, int8)
    with _lock:
        if key in _graphs:
            _graphs.move_to_end(key)
            return _graphs[key]
    _require_openvino()
    if int8:
        from .quantize import int8_graph

        graph = int8_graph(network_graph(model, digest), digest)
    else:
        graph = unet_graph(unet_arrays(model), softmax=getattr(model, "softmax", True))
    with _lock:
        _graphs[key] = graph
        while len(_graphs) > _KEEP_GRAPHS:
            _graphs.popitem(last=False)
    return graph


def compiled_model(model, digest: str, shape: tuple, inference_precision: str, int8: bool = False,
                   stream: bool = False):
    """The network (``int8``: its int8 quantization) compiled for input ``shape`` (cached: see the module docstring).

    ``stream``: its streaming version (:func:`~exodeepfinder.inference.streaming.stream_graph`) for chunks of
    ``shape`` ``[1, 1, frames, y, x]``.
    """
    key = (digest, tuple(shape), inference_precision, int8, stream)
    with _lock:
        if key in _compiled:
            _compiled.move_to_end(key)
            return _compiled[key]
        # Free the previous shape's working memory before allocating this one's.
        while len(_compiled) >= _KEEP_COMPILED:
            _compiled.popitem(last=False)
    if stream:
        from .streaming import StreamingError, stream_graph
        from .tiling import T_REACH

        graph, lag = stream_graph(network_graph(model, digest, int8), shape[2:])
        if lag != T_REACH:
            raise StreamingError(f"the network's reach along t is {lag} frames, not {T_REACH}: cannot stream it")
    else:
        graph = network_graph(model, digest, int8).clone()
        graph.reshape(list(shape))
    compiled = core().compile_model(graph, "CPU", {"INFERENCE_PRECISION_HINT": inference_precision,
                                                       "PERFORMANCE_HINT": "LATENCY"})
    with _lock:
        _compiled[key] = compiled
    return compiled


def clear_cache():
    """Forget the graphs and compiled models held in memory (the compiled blobs on disk stay)."""
    with _lock:
        _graphs.clear()
        _compiled.clear()


class OpenVinoRunner:
    """The U-Net with OpenVINO on the CPU: bfloat16 for ``precision="fast"`` where the CPU has it, else float32;
    int8 convolutions for ``precision="int8"`` (:mod:`exodeepfinder.inference.quantize`)."""

    engine = "openvino"
    batching = False  # one window per call: every call has the same shape, compiled once
    max_window_voxels = None

    def __init__(self, model, precision: str):
        from .memory import BYTES_PER_VOXEL, STREAM_BYTES
        from .streaming import stream_supported

        openvino = _require_openvino()
        self.model = model
        self.digest = weights_digest(model)
        self.int8 = precision == "int8"
        bfloat16 = precision == "fast" and cpu_computes_bfloat16()
        # int8: the quantized convolutions in int8, the rest (softmax, the first quantizer) in float32
        self.inference_precision = "bf16" if bfloat16 else "f32"
        arithmetic = "int8" if self.int8 else self.inference_precision
        self.bytes_per_voxel = BYTES_PER_VOXEL[("openvino", arithmetic)]
        #: (bytes per voxel of a chunk, bytes per pixel kept between chunks) of :meth:`stream`; None: no streaming
        self.stream_bytes = STREAM_BYTES[("openvino", arithmetic)] if stream_supported() else None
        self.description = f"OpenVINO {openvino.__version__.split('-')[0]} on cpu, {arithmetic}"
        self._request = None

    def __call__(self, windows, keep):
        """Class probabilities ``float32 [batch, 3, ...]`` of ``windows[..., keep]`` (keep: t, y, x slices)."""
        import numpy as np

        shape = tuple(windows.shape)
        if self._request is None or self._request[0] != shape:
            self._request = None  # let the previous shape's memory go before compiling this one
            compiled = compiled_model(self.model, self.digest, shape, self.inference_precision, self.int8)
            self._request = (shape, compiled.create_infer_request())
        request = self._request[1]
        # start_async + wait: the GIL is released while OpenVINO computes, so the reading thread
        # normalises the next block meanwhile
        request.start_async({0: np.ascontiguousarray(windows)}, share_inputs=True)
        request.wait()
        output = request.get_output_tensor(0).data
        return np.array(output[(slice(None), slice(None)) + tuple(keep)])

    def stream(self, shape):
        """A new stream of chunks of ``shape`` ``(frames, y, x)`` (:mod:`~exodeepfinder.inference.streaming`).

        Returns
        -------
        callable
            ``step(chunk)``: class probabilities ``float32 [3, frames, y, x]`` of the frames
            :data:`~exodeepfinder.inference.tiling.T_REACH` before those of ``chunk``
            (``float32 [frames, y, x]``), computed with the features of the chunks before it.
        """
        import numpy as np

        self._request = None  # let a window shape's memory go before compiling the stream
        compiled = compiled_model(self.model, self.digest, (1, 1) + tuple(shape), self.inference_precision,
                                  self.int8, stream=True)
        request = compiled.create_infer_request()
        request.reset_state()

        def step(chunk):
            request.start_async({0: np.ascontiguousarray(chunk[None, None])}, share_inputs=True)
            request.wait()
            return np.array(request.get_output_tensor(0).data[0])

        return step
