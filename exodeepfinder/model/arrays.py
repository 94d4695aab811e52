"""The U-Net's layers and weights as NumPy arrays: what inference needs, without PyTorch.

:func:`~exodeepfinder.model.weights.load_model` returns a PyTorch
:class:`~exodeepfinder.model.unet.UNet` where PyTorch is installed, and a :class:`UNetWeights`
where it is not (the standalone "lite" app): the OpenVINO backend builds its graph from the
arrays of either (:func:`unet_arrays`, :mod:`exodeepfinder.inference.openvino_graph`).

:data:`CONV_LAYERS` repeats the table of :mod:`exodeepfinder.model.unet`, which must import
nothing but PyTorch (it is shipped alone in bioimage.io packages); a test checks that they agree.
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3

#: (in_channels, out_channels, kernel_size) of every convolution, in Keras layer order.
CONV_LAYERS = (
    (1, 32, 3), (32, 32, 3),                 # level 1 -> skip A
    (32, 48, 3), (48, 48, 3),                # level 2 -> skip B
    (48, 64, 3), (64, 64, 3), (64, 64, 3), (64, 64, 3),  # bottom
    (64, 64, 2),                             # after upsampling to level 2
    (112, 48, 3), (48, 48, 3),               # level 2, after concatenation with B
    (48, 48, 2),                             # after upsampling to level 1
    (80, 32, 3), (32, 32, 3),                # level 1, after concatenation with A
    (32, N_CLASSES, 1),                      # classifier
)


#: Level (1: full resolution, 2: y and x halved, 3: quartered) at which each convolution computes.
CONV_LEVELS = (1, 1, 2, 2, 3, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1)


def flops_per_voxel() -> float:
    """Floating-point operations of the network per input voxel (its convolutions; 2 per multiply-add).

    A convolution at level ``L`` computes ``4 ** -(L - 1)`` output voxels per input voxel, each
    ``2 * c_in * c_out * k ** 3`` operations: about 0.51 million in all (the ReLUs, pooling,
    upsampling and softmax add < 0.1%).
    """
    return float(sum(2 * c_in * c_out * k ** 3 / 4 ** (level - 1)
                     for (c_in, c_out, k), level in zip(CONV_LAYERS, CONV_LEVELS)))


def import_torch():
    """The ``torch`` module, or None where PyTorch is not installed (the standalone "lite" app)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def convolution_shapes() -> list[tuple[tuple, tuple]]:
    """``(weight shape, bias shape)`` of every convolution, weights ``[out, in, kt, ky, kx]``."""
    return [((c_out, c_in, k, k, k), (c_out,)) for c_in, c_out, k in CONV_LAYERS]


class UNetWeights:
    """The ExoDeepFinder U-Net as arrays: the model :func:`~exodeepfinder.model.weights.load_model`
    returns where PyTorch is not installed.

    It runs with the OpenVINO backend only; :meth:`to_torch` makes the PyTorch network of the
    same weights (where PyTorch is installed).

    Parameters
    ----------
    convolutions : list of (weight, bias)
        One pair per convolution, in :data:`CONV_LAYERS` order: ``weight`` float32
        ``[out, in, kt, ky, kx]`` (the PyTorch and OpenVINO layout), ``bias`` float32 ``[out]``.
    softmax : bool
        The network's output: class probabilities (True, default) or logits.

    Attributes
    ----------
    weights_path : Path or None
        The file the weights were read from (set by ``load_model``).
    weights_source : str or None
        Where that file came from, e.g. ``"bundled default model"``.
    device : str
        ``"cpu"``: without PyTorch the network runs on the CPU only.
    """

    #: Always in inference mode (as a PyTorch module after ``eval()``).
    training = False

    def __init__(self, convolutions, softmax: bool = True):
        self.convolutions = [(np.ascontiguousarray(weight, np.float32), np.ascontiguousarray(bias, np.float32))
                             for weight, bias in convolutions]
        found = [(w.shape, b.shape) for w, b in self.convolutions]
        if found != convolution_shapes():
            raise ValueError(f"convolutions: expected the shapes {convolution_shapes()}, got {found}")
        self.softmax = softmax
        self.weights_path = None
        self.weights_source = None
        self.device = "cpu"

    def __repr__(self) -> str:
        source = f" from {self.weights_path}" if self.weights_path is not None else ""
        return f"UNetWeights({len(self.convolutions)} convolutions{source})"

    def to_torch(self):
        """The PyTorch :class:`~exodeepfinder.model.unet.UNet` with these weights, in eval mode on the CPU."""
        import torch

        from .unet import UNet

        model = UNet(softmax=self.softmax)
        with torch.no_grad():
            for (weight, bias), conv in zip(self.convolutions, model.convs):
                conv.weight.copy_(torch.from_numpy(weight))
                conv.bias.copy_(torch.from_numpy(bias))
        return model.eval()


def unet_arrays(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(weight, bias)`` float32 arrays of every convolution of ``model`` (a UNet or UNetWeights)."""
    if isinstance(model, UNetWeights):
        return model.convolutions
    return [(conv.weight.detach().cpu().float().numpy(), conv.bias.detach().cpu().float().numpy())
            for conv in model.convs]
