"""The engines that run the U-Net on windows of a movie: PyTorch and OpenVINO.

A *runner* maps a batch of normalised windows ``float32 [batch, 1, t, y, x]`` to the class
probabilities of their kept part ``float32 [batch, 3, t', y', x']``. :func:`make_runner`
picks one:

``"auto"``
    OpenVINO on a CPU (bfloat16 where the CPU computes it natively, i.e. has AMX or
    AVX512-BF16, float32 otherwise), PyTorch on CUDA and Apple MPS. Without OpenVINO
    installed, PyTorch everywhere.
``"torch"``
    PyTorch: the float32 reference path (``precision="fast"`` adds bfloat16 / float16
    autocast where the device computes it fast).
``"openvino"``
    OpenVINO on the CPU (:mod:`exodeepfinder.inference.openvino_backend`).
"""

from __future__ import annotations

import copy

from ..errors import InputError
from ..model.precision import autocast_dtype, check_precision
from .memory import BYTES_PER_VOXEL

#: The inference engines accepted by segmentation (``backend=``).
BACKENDS = ("auto", "torch", "openvino")

#: Host bytes per window voxel when the network runs on a GPU (input and output copies).
GPU_HOST_BYTES_PER_VOXEL = 40
#: Share of the free GPU memory one network call may use.
GPU_MEMORY_SHARE = 0.5
#: Elements of a tensor that GPU kernels index with 32-bit integers. Larger activations run on slow
#: fallback kernels: on an H200, 500 x 400 x 300 frames in windows of 28.5 M voxels (2.3 G elements
#: in the 80-channel layers at full resolution) took 20 s, in windows of 17.8 M voxels 2.5-3.7 s.
GPU_INDEXABLE_ELEMENTS = 2**31 - 1


def gpu_window_limit(free_bytes, arithmetic: str) -> int:
    """Most voxels of one network call on a GPU with ``free_bytes`` free (None: unknown).

    Half the free memory, and no activation beyond :data:`GPU_INDEXABLE_ELEMENTS` (counted with
    the widest layer's channels, a margin over the full-resolution ones).
    """
    from ..model.unet import CONV_LAYERS

    widest = max(max(c_in, c_out) for c_in, c_out, _ in CONV_LAYERS)
    limit = GPU_INDEXABLE_ELEMENTS // widest
    if free_bytes is None:
        return limit
    return min(limit, int(GPU_MEMORY_SHARE * free_bytes / (2 * BYTES_PER_VOXEL[("torch", arithmetic)])))


def check_backend(backend: str) -> str:
    """Return ``backend`` if it is one of :data:`BACKENDS`, else raise ValueError."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    return backend


def device_type(device) -> str:
    """``"cpu"``, ``"cuda"``, ``"mps"``...: the kind of ``device`` (a torch.device or its name)."""
    return getattr(device, "type", None) or str(device).split(":")[0].lower()


def select_backend(backend: str, device) -> str:
    """The engine (``"torch"`` or ``"openvino"``) that ``backend`` means on ``device`` (a torch.device or name).

    ``"auto"`` is OpenVINO on the CPU where it is installed (or where PyTorch is not), PyTorch
    otherwise.

    Raises
    ------
    InputError
        ``backend="openvino"`` without OpenVINO installed, or on a device other than the CPU.
    """
    from ..model.arrays import import_torch
    from .openvino_backend import import_openvino

    check_backend(backend)
    kind = device_type(device)
    if backend == "torch":
        return "torch"
    if backend == "auto":
        if kind != "cpu":
            return "torch"
        return "openvino" if import_openvino() is not None or import_torch() is None else "torch"
    if kind != "cpu":
        raise InputError(f"backend='openvino' runs on the CPU, not on device {kind!r}: "
                         "use backend='torch' or 'auto' there")
    if import_openvino() is None:
        raise InputError("backend='openvino': OpenVINO is not installed; install it with "
                         "'pip install openvino', or use backend='torch'")
    return "openvino"


#: ``precision="auto"`` chooses int8 where OpenVINO runs the network: int8 passes the quality
#: criterion (docs/segment.md, bench/precision_quality.py) and is the fastest mode on the CPUs measured.
AUTO_INT8 = True
#: int8 speed against float32 measured by bench/segment.py, by the CPU's int8 instructions.
INT8_SPEEDUP = {"AVX2": "2.1x"}


def resolve_precision(precision: str, backend: str, device, model=None) -> tuple[str, str]:
    """The precision ``precision`` means for ``backend`` on ``device``, and why (a phrase for the user).

    ``"auto"`` is ``"int8"`` where OpenVINO runs the network (a CPU), NNCF is installed, the
    CPU computes int8 (:data:`AUTO_INT8`) and, given ``model`` (a UNet or UNetWeights), the int8
    labels of its weights agree with float32 (:func:`~exodeepfinder.inference.quantize.int8_passes`:
    this quantizes the weights the first time); else ``"fast"``. Any other precision is itself.

    Returns
    -------
    precision : str
        One of ``"fast"``, ``"fp32"``, ``"int8"``.
    reason : str
        E.g. ``"auto: AVX2 CPU, 2.1x float32, passes the quality criterion"``.
    """
    check_precision(precision)
    if precision != "auto":
        return precision, "as asked"
    if select_backend(backend, device) != "openvino":
        return "fast", f"auto: PyTorch on {device_type(device)} (int8 runs with OpenVINO on a CPU only)"
    from ..model.precision import cpu_int8_instructions
    from .openvino_backend import core
    from .quantize import import_nncf

    if not AUTO_INT8:
        return "fast", "auto: int8 does not pass the quality criterion"
    if import_nncf() is None:
        return "fast", "auto: int8 needs NNCF, which is not installed (pip install nncf)"
    if "INT8" not in core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        return "fast", "auto: OpenVINO computes no int8 on this CPU"
    if model is not None:
        from .openvino_backend import network_graph, weights_digest
        from .quantize import MIN_EVENT_IOU, int8_check, int8_passes

        digest = weights_digest(model)
        network_graph(model, digest, True)  # quantized (and checked) the first time
        check = int8_check(digest)
        if not int8_passes(check):
            found = "unchecked" if check is None else f"{check['event_iou']:.3f}"
            return "fast", (f"auto: the int8 labels of these weights differ from float32's (event voxels "
                            f"shared {found} < {MIN_EVENT_IOU})")
    instructions = cpu_int8_instructions()
    speed = f", {INT8_SPEEDUP[instructions]} float32" if instructions in INT8_SPEEDUP else ""
    return "int8", f"auto: {instructions or 'this'} CPU{speed}, passes the quality criterion"


def make_runner(model, backend: str, device, precision: str):
    """A runner for ``model`` (a UNet or UNetWeights) with the engine ``backend`` means on ``device``.

    Returns
    -------
    TorchRunner or OpenVinoRunner
        Callable ``runner(windows, keep)``, with attributes ``engine``, ``description``,
        ``bytes_per_voxel`` (host memory per window voxel), ``max_window_voxels`` (None, or
        a limit from the GPU memory), ``batching`` (whether batches of windows pay) and ``stream_bytes``
        (None, or the memory of a stream: see :meth:`OpenVinoRunner.stream`).

    Raises
    ------
    InputError
        If the engine is not installed (PyTorch for ``backend="torch"`` or a GPU; OpenVINO for
        ``backend="openvino"``), or ``precision="int8"`` with PyTorch (int8 runs with OpenVINO only).
    """
    from ..model.arrays import UNetWeights
    from ..model.weights import require_torch

    precision, _ = resolve_precision(precision, backend, device, model)
    if select_backend(backend, device) == "openvino":
        from .openvino_backend import OpenVinoRunner

        return OpenVinoRunner(model, precision)
    if precision == "int8":
        why = "backend='torch'" if backend == "torch" else \
            f"device {device_type(device)!r}" if device_type(device) != "cpu" else "this installation (no OpenVINO)"
        raise InputError(f"precision 'int8' runs with OpenVINO on the CPU, not with {why}: "
                         "use precision 'fast' or 'fp32' there")
    torch = require_torch("backend='torch'" if backend == "torch" else f"device {device_type(device)}")
    if isinstance(model, UNetWeights):
        model = model.to_torch()
    return TorchRunner(model, torch.device(device) if isinstance(device, str) else device, precision)


def _float32_ends(model):
    """Make the first and last convolutions of ``model`` run in float32 under autocast (in place).

    They cost < 1% of the work, and rounding the normalised movie and the class logits to
    16 bits is what most moves voxels near a tie between two classes.
    """
    import torch

    class Float32Conv3d(torch.nn.Conv3d):
        def forward(self, x):
            with torch.autocast(device_type=x.device.type, enabled=False):
                return super().forward(x.float())

    for index in (0, len(model.convs) - 1):
        model.convs[index].__class__ = Float32Conv3d


class TorchRunner:
    """The U-Net in PyTorch on ``device``, with ``precision``'s autocast and a channels-last layout.

    Works on a copy of ``model``: the caller's model is untouched.
    """

    engine = "torch"

    def __init__(self, model, device, precision: str):
        import torch

        self.device = device
        self.precision = precision
        self.dtype = autocast_dtype(device, precision)
        self.model = copy.deepcopy(model).to(device).eval()
        if self.dtype is not None:
            _float32_ends(self.model)
        # channels-last 3D is the layout oneDNN and cuDNN convolve fastest
        self.channels_last = device.type in ("cpu", "cuda")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        arithmetic = "float32" if self.dtype is None else str(self.dtype).removeprefix("torch.")
        self.description = f"PyTorch {torch.__version__.split('+')[0]} on {device.type}, {arithmetic}"
        self.batching = True
        self.max_window_voxels = None
        self.stream_bytes = None  # no streaming (exodeepfinder.inference.streaming) with PyTorch
        if device.type == "cpu":
            self.bytes_per_voxel = BYTES_PER_VOXEL[("torch", arithmetic)]
        else:
            self.bytes_per_voxel = GPU_HOST_BYTES_PER_VOXEL
            self.max_window_voxels = gpu_window_limit(_free_gpu_memory(device), arithmetic)

    def __call__(self, windows, keep):
        """Class probabilities ``float32 [batch, 3, ...]`` of ``windows[..., keep]`` (keep: t, y, x slices)."""
        import torch

        with torch.inference_mode(), self._autocast(), self._cudnn():
            inputs = torch.from_numpy(windows)
            if self.device.type == "cuda":
                inputs = inputs.pin_memory().to(self.device, non_blocking=True)
            else:
                inputs = inputs.to(self.device)
            if self.channels_last:
                inputs = inputs.contiguous(memory_format=torch.channels_last_3d)
            probabilities = self.model(inputs)[(slice(None), slice(None)) + tuple(keep)]
            return probabilities.float().cpu().numpy()

    def _cudnn(self):
        """cuDNN autotuning (every window of a movie has the same shape); no TF32 in float32."""
        import contextlib

        import torch

        if self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=False,
                                          allow_tf32=self.precision != "fp32")

    def _autocast(self):
        import contextlib

        import torch

        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)


def _free_gpu_memory(device):
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    if device.type == "mps":
        try:
            return torch.mps.recommended_max_memory() - torch.mps.current_allocated_memory()
        except AttributeError:
            return None
    return None
