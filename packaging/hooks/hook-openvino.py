"""PyInstaller hook for OpenVINO: its Python modules and the libraries CPU inference needs.

OpenVINO loads its device plugins at run time from the folder of its core library
(``openvino/libs``), so they are collected there. The GPU and NPU plugins and the model
frontends (ONNX, PyTorch, TensorFlow, PaddlePaddle, JAX, GGUF: ExoDeepFinder builds its graph
with OpenVINO's operations and reads no model files) are left out: about 90 MB.
"""

from pathlib import Path

from PyInstaller.utils.hooks import collect_dynamic_libs, collect_submodules

#: Parts of a library's file name that mark what CPU inference does not need.
UNNEEDED_LIBRARIES = ("intel_gpu_plugin", "intel_npu_plugin", "_frontend", "tbbmalloc_proxy")
#: OpenVINO's Python modules that need PyTorch or other frameworks, or are tools.
UNNEEDED_MODULES = ("openvino.torch", "openvino.tools", "openvino.frontend.pytorch", "openvino.frontend.tensorflow",
                    "openvino.frontend.jax", "openvino.frontend.onnx", "openvino.frontend.paddle")


def _needed_module(name: str) -> bool:
    return not any(name == unneeded or name.startswith(unneeded + ".") for unneeded in UNNEEDED_MODULES)


hiddenimports = collect_submodules("openvino", filter=_needed_module)
binaries = [(source, destination) for source, destination in collect_dynamic_libs("openvino")
            if not any(part in Path(source).name for part in UNNEEDED_LIBRARIES)]
excludedimports = list(UNNEEDED_MODULES) + ["openvino_telemetry"]
