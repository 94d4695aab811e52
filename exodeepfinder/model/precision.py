"""The arithmetic precision modes of the network, and which 16-bit type each device computes fast.

``"fast"`` runs the convolutions in a 16-bit float type where the hardware computes it natively
(bfloat16 on CPUs with AVX512-BF16 or AMX, bfloat16 or float16 on GPUs) and in float32
elsewhere: on a CPU without bfloat16 units, PyTorch emulates bfloat16 some 20x slower than
float32. ``"fp32"`` always computes in float32, the reference's arithmetic. ``"int8"`` (segmentation
on the CPU with OpenVINO only) runs the convolutions in 8-bit integers, quantized with NNCF
(:mod:`exodeepfinder.inference.quantize`): about 2x float32 on AVX2 CPUs. ``"auto"`` (the default
of segmentation) is the fastest of them that passes the quality criterion of docs/segment.md on
the device at hand (:func:`exodeepfinder.inference.backends.resolve_precision`).
"""

from __future__ import annotations

#: Precision modes accepted by segmentation (``--precision``); the first is the default.
PRECISIONS = ("auto", "fast", "fp32", "int8")
#: Precision modes accepted by training (no int8 training).
TRAINING_PRECISIONS = ("fast", "fp32")


def check_precision(precision: str, choices=PRECISIONS) -> str:
    """Return ``precision`` if it is one of ``choices`` (default :data:`PRECISIONS`), else raise ValueError."""
    if precision not in choices:
        raise ValueError(f"precision: expected one of {', '.join(choices)}, got {precision!r}")
    return precision


def cpu_int8_instructions() -> str | None:
    """The widest int8 dot-product instructions of this CPU: "AMX", "AVX512-VNNI", "AVX-VNNI", "AVX2" or None.

    Read from ``/proc/cpuinfo`` on Linux, else from PyTorch's CPU capability (None: unknown or not x86).
    """
    flags = set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    if not flags:
        try:
            import torch

            capability = torch.backends.cpu.get_cpu_capability()
        except (ImportError, AttributeError, RuntimeError):
            return None
        return {"AVX512": "AVX512", "AVX2": "AVX2"}.get(capability)
    for flag, name in (("amx_int8", "AMX"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"), ("avx2", "AVX2")):
        if flag in flags:
            return name
    return None


def cpu_supports_bfloat16() -> bool:
    """True if this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where autocast pays."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast_dtype(device, precision: str):
    """The 16-bit type ``precision`` computes in on ``device`` (a torch.device), or None for float32."""
    import torch

    check_precision(precision)
    if precision in ("fp32", "int8"):  # int8 never runs in PyTorch (make_runner refuses it)
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if cpu_supports_bfloat16() else None
    return torch.float16
