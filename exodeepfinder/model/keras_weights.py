"""Read and write U-Net weights in the Keras HDF5 layout used by ExoDeepFinder.

Two layouts are read: Keras 2 (the official ``net_weights_FINAL.h5``: groups
``model_weights/conv3d_N/conv3d_N/kernel:0`` and ``bias:0``) and Keras 3 ``model.save('*.h5')``
(the same groups, names without ``:0``). Files are written in the Keras 2 layout, which both
the reference tools (``model.load_weights``) and this package read.
"""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output
from ..io.h5 import open_h5_file
from .arrays import CONV_LAYERS, DEFAULT_WIDTHS, MAX_WIDTH, conv_layers


def _layer_order_key(name: str):
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else -1


def _datasets(group) -> list:
    found = []
    group.visititems(lambda _, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def _refuse_links_to_other_files(handle, path: Path) -> None:
    """InputError for anything that makes HDF5 read another file: external links, external or virtual datasets."""
    external = []
    # (raising inside h5py's visitor would leave HDF5 in an error state: collect, then raise)
    handle.visititems_links(lambda name, link: external.append((name, link))
                            if isinstance(link, h5py.ExternalLink) else None)
    for name, link in external[:1]:
        raise InputError(f"{path}: '{name}' is an HDF5 external link to {link.filename}:{link.path}; "
                         "weights files must be self-contained")
    for dataset in _datasets(handle):
        if dataset.external or dataset.is_virtual:
            raise InputError(f"{path}: dataset '{dataset.name}' keeps its values in another file; "
                             "weights files must be self-contained")


def _conv_datasets(handle, path: Path) -> list:
    """The (kernel, bias) datasets of each convolution layer, in layer order, nothing read yet."""
    _refuse_links_to_other_files(handle, path)
    root = handle["model_weights"] if "model_weights" in handle else handle
    if not isinstance(root, h5py.Group):
        raise InputError(f"{path}: 'model_weights' is not a group of layers")
    if "layer_names" in root.attrs:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs["layer_names"]]
    else:
        names = sorted((k for k in root.keys() if isinstance(root[k], h5py.Group)), key=_layer_order_key)
    layers = []
    for name in names:
        if name not in root or not isinstance(root[name], h5py.Group):
            continue
        datasets = _datasets(root[name])
        if not datasets:
            continue  # pooling, upsampling, concatenation, input
        kernels = [d for d in datasets if d.ndim == 5]
        biases = [d for d in datasets if d.ndim == 1]
        if len(kernels) != 1 or len(biases) != 1 or len(datasets) != 2:
            raise InputError(f"{path}: layer '{name}' is not a 3D convolution with a bias")
        layers.append((kernels[0], biases[0]))
    return layers


def _read(dataset, path: Path) -> np.ndarray:
    if dataset.dtype.kind not in "fiu":
        raise InputError(f"{path}: dataset '{dataset.name}' holds {dataset.dtype}, not numbers")
    try:
        return dataset[()]
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read '{dataset.name}' ({' '.join(str(err).split())[:120]}); the file is "
                         "damaged") from None


def read_keras_conv_weights(path) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return the (kernel, bias) pairs of the convolution layers of a Keras HDF5 file, in layer order.

    Kernels keep the Keras shape ``(kt, ky, kx, in, out)``. Files that make HDF5 read another
    file (external links, external or virtual datasets) are refused.
    """
    path = Path(path)
    with open_h5_file(path, "weights file") as handle:
        return [(_read(kernel, path), _read(bias, path)) for kernel, bias in _conv_datasets(handle, path)]


def _file_widths(layers, path: Path) -> tuple[int, int, int]:
    """The widths (channels per level) the kernels of the first, third and fifth convolutions give."""
    widths = []
    for index in (0, 2, 4):
        shape = layers[index][0].shape
        if len(shape) != 5 or not 1 <= shape[-1] <= MAX_WIDTH:
            raise InputError(f"{path}: convolution {index + 1} has kernel shape {shape}, expected (k, k, k, in, out) "
                             f"with 1 to {MAX_WIDTH} output channels")
        widths.append(int(shape[-1]))
    return tuple(widths)


def _checked_layers(handle, path: Path) -> tuple[list, tuple[int, int, int]]:
    """The (kernel, bias) datasets of an open weights file and the widths of its U-Net, from the shapes alone.

    InputError for a wrong number of convolutions or at the first shape inconsistent with the widths.
    """
    layers = _conv_datasets(handle, path)
    if len(layers) != len(CONV_LAYERS):
        raise InputError(f"{path}: {len(layers)} convolution layers, an ExoDeepFinder U-Net has {len(CONV_LAYERS)}")
    widths = _file_widths(layers, path)
    for index, ((kernel, bias), (c_in, c_out, k)) in enumerate(zip(layers, conv_layers(widths))):
        expected = (k, k, k, c_in, c_out)
        if kernel.shape != expected or bias.shape != (c_out,):
            is_kernel = kernel.shape != expected
            shape = kernel.shape if is_kernel else bias.shape
            note = "" if widths == DEFAULT_WIDTHS else f" for the widths {widths} of its convolutions 1, 3 and 5"
            raise InputError(f"{path}: convolution {index + 1} has {'kernel' if is_kernel else 'bias'} "
                             f"shape {shape}, expected {expected if is_kernel else (c_out,)}{note}")
    return layers, widths


def read_unet_arrays(path) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(weight, bias)`` float32 arrays of every convolution of an ExoDeepFinder U-Net weights file.

    Weights are in the PyTorch layout ``[out, in, kt, ky, kx]``, in :func:`~.arrays.conv_layers`
    order. No PyTorch needed: this is how every model is loaded (:func:`~.weights.load_model`).
    The widths (channels per level: (32, 48, 64) for the reference network, fewer for a compact
    one) are those of the kernels of convolutions 1, 3 and 5, at most :data:`~.arrays.MAX_WIDTH`;
    the number and shapes of all layers are checked against them before any value is read (a file
    cannot make this read more than a U-Net of that size), and every value must be finite.

    Raises
    ------
    InputError
        If the file is not an ExoDeepFinder U-Net weights file (wrong number of layers, shapes
        inconsistent with one set of widths), holds NaN or infinite values, or links to other files.
    """
    path = Path(path)
    with open_h5_file(path, "weights file") as handle:
        layers, _ = _checked_layers(handle, path)
        arrays = []
        for index, (kernel, bias) in enumerate(layers):
            weight = np.ascontiguousarray(_read(kernel, path).transpose(4, 3, 0, 1, 2), np.float32)
            bias = np.ascontiguousarray(_read(bias, path), np.float32)
            bad = int((~np.isfinite(weight)).sum() + (~np.isfinite(bias)).sum())
            if bad:
                raise InputError(f"{path}: convolution {index + 1} has {bad} NaN or infinite weight(s); the file is "
                                 "damaged or its training diverged")
            arrays.append((weight, bias))
    return arrays


def read_unet_widths(path) -> tuple[int, int, int]:
    """The widths (channels per level) of the U-Net in a weights file, from its shapes alone (no value read).

    Raises
    ------
    InputError
        As :func:`read_unet_arrays`, for a file that is not an ExoDeepFinder U-Net's.
    """
    path = Path(path)
    with open_h5_file(path, "weights file") as handle:
        return _checked_layers(handle, path)[1]


def load_keras_unet(path, *, softmax: bool = False):
    """A PyTorch UNet of the widths of the weights file ``path``, with its weights (on the CPU, training mode)."""
    from .unet import UNet

    return load_keras_weights(UNet(softmax=softmax, widths=read_unet_widths(path)), path)


def load_keras_weights(model, path):
    """Load Keras HDF5 weights into ``model`` (a PyTorch UNet, in place) and return it.

    Raises
    ------
    InputError
        If the file is not an ExoDeepFinder U-Net weights file (wrong number or shapes of layers),
        or its widths are not those of ``model``.
    """
    import torch

    from .arrays import model_widths, widths_of

    arrays = read_unet_arrays(path)
    widths = widths_of([(w.shape, b.shape) for w, b in arrays])
    if widths != model_widths(model):
        raise InputError(f"{Path(path)}: a U-Net of widths {widths}, the network to load it into has "
                         f"{model_widths(model)}")
    with torch.no_grad():
        for (weight, bias), conv in zip(arrays, model.convs):
            conv.weight.copy_(torch.from_numpy(weight))
            conv.bias.copy_(torch.from_numpy(bias))
    return model


# Keras 2 layer names of the reference network, in order (as in the official file).
def _keras_layer_names() -> list[tuple[str, int | None]]:
    kinds = ["input", "c", "c", "pool", "c", "c", "pool", "c", "c", "c", "c", "up", "c", "cat",
             "c", "c", "up", "c", "cat", "c", "c", "c"]
    names, conv, pool, up, cat = [], 0, 0, 0, 0
    for kind in kinds:
        if kind == "input":
            names.append(("input_1", None))
        elif kind == "c":
            conv += 1
            names.append((f"conv3d_{conv}", conv - 1))
        elif kind == "pool":
            pool += 1
            names.append((f"max_pooling3d_{pool}", None))
        elif kind == "up":
            up += 1
            names.append((f"up_sampling3d_{up}", None))
        else:
            cat += 1
            names.append((f"concatenate_{cat}", None))
    return names


def save_keras_weights(model, path, *, overwrite: bool = False) -> Path:
    """Write the weights of ``model`` (a UNet or UNetWeights) to ``path`` in the Keras 2 HDF5 layout (atomically).

    An existing file is replaced only with ``overwrite`` (else FileExistsError, the file untouched).
    """
    from .arrays import unet_arrays

    path = Path(path)
    arrays = unet_arrays(model)
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.6.0"
        group = handle.create_group("model_weights")
        group.attrs["backend"] = b"tensorflow"
        group.attrs["keras_version"] = b"2.6.0"
        layer_names = _keras_layer_names()
        group.attrs["layer_names"] = np.array([n.encode() for n, _ in layer_names])
        for name, conv_index in layer_names:
            layer = group.create_group(name)
            if conv_index is None:
                layer.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            weight, bias = arrays[conv_index]
            kernel = weight.transpose(2, 3, 4, 1, 0)
            layer.attrs["weight_names"] = np.array([f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()])
            inner = layer.create_group(name)
            inner.create_dataset("kernel:0", data=np.ascontiguousarray(kernel))
            inner.create_dataset("bias:0", data=bias)
    return path
