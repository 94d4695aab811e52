"""The U-Net's layers and weights as NumPy arrays: what inference needs, without PyTorch.

:func:`~exodeepfinder.model.weights.load_model` returns a PyTorch
:class:`~exodeepfinder.model.unet.UNet` where PyTorch is installed, and a :class:`UNetWeights`
where it is not (the standalone "lite" app): the OpenVINO backend builds its graph from the
arrays of either (:func:`unet_arrays`, :mod:`exodeepfinder.inference.openvino_graph`).

:func:`conv_layers` repeats the table of :mod:`exodeepfinder.model.unet`, which must import
nothing but PyTorch (it is shipped alone in bioimage.io packages); a test checks that they agree.
The widths (channels per level) are read from the weights' shapes: the default (32, 48, 64) of
the reference network, or a compact network's (e.g. (16, 24, 32), ``scripts/train_compact_model.py``).
"""

from __future__ import annotations

import numpy as np

N_CLASSES = 3

#: Channels of the convolutions at the three levels (full resolution, y and x halved, quartered):
#: the reference network's, which the official and bundled weights have.
DEFAULT_WIDTHS = (32, 48, 64)
#: Widest level a weights file may have (a file cannot make the reader allocate more than this network).
MAX_WIDTH = 256


def conv_layers(widths=DEFAULT_WIDTHS) -> tuple:
    """``(in_channels, out_channels, kernel_size)`` of every convolution of the U-Net of ``widths``, in Keras order.

    ``widths`` are the channels at the three levels (full resolution, y and x halved, quartered);
    the default gives :data:`CONV_LAYERS`. The same table as :func:`exodeepfinder.model.unet.conv_layers`.
    """
    a, b, c = (int(w) for w in widths)
    return (
        (1, a, 3), (a, a, 3),                    # level 1 -> skip A
        (a, b, 3), (b, b, 3),                    # level 2 -> skip B
        (b, c, 3), (c, c, 3), (c, c, 3), (c, c, 3),  # bottom
        (c, c, 2),                               # after upsampling to level 2
        (c + b, b, 3), (b, b, 3),                # level 2, after concatenation with B
        (b, b, 2),                               # after upsampling to level 1
        (b + a, a, 3), (a, a, 3),                # level 1, after concatenation with A
        (a, N_CLASSES, 1),                       # classifier
    )


#: (in_channels, out_channels, kernel_size) of every convolution, in Keras layer order.
CONV_LAYERS = conv_layers()


#: Level (1: full resolution, 2: y and x halved, 3: quartered) at which each convolution computes.
CONV_LEVELS = (1, 1, 2, 2, 3, 3, 3, 3, 2, 2, 2, 1, 1, 1, 1)


def flops_per_voxel(widths=DEFAULT_WIDTHS) -> float:
    """Floating-point operations of the network per input voxel (its convolutions; 2 per multiply-add).

    A convolution at level ``L`` computes ``4 ** -(L - 1)`` output voxels per input voxel, each
    ``2 * c_in * c_out * k ** 3`` operations: about 0.51 million in all for the default widths
    (32, 48, 64), 0.128 million for (16, 24, 32) (the ReLUs, pooling, upsampling and softmax add < 0.1%).
    """
    return float(sum(2 * c_in * c_out * k ** 3 / 4 ** (level - 1)
                     for (c_in, c_out, k), level in zip(conv_layers(widths), CONV_LEVELS)))


def widths_of(shapes) -> tuple[int, int, int] | None:
    """The widths of the U-Net whose convolutions have these PyTorch ``(weight shape, bias shape)``, or None.

    None where the shapes are not those of any U-Net of :func:`conv_layers` (wrong number of
    convolutions, inconsistent channels, a width beyond :data:`MAX_WIDTH`).
    """
    shapes = [(tuple(w), tuple(b)) for w, b in shapes]
    if len(shapes) != len(CONV_LEVELS) or any(len(w) != 5 for w, _ in shapes[:5]):
        return None
    widths = (shapes[0][0][0], shapes[2][0][0], shapes[4][0][0])
    if not all(1 <= w <= MAX_WIDTH for w in widths):
        return None
    return widths if shapes == convolution_shapes(widths) else None


def import_torch():
    """The ``torch`` module, or None where PyTorch is not installed (the standalone "lite" app)."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def convolution_shapes(widths=DEFAULT_WIDTHS) -> list[tuple[tuple, tuple]]:
    """``(weight shape, bias shape)`` of every convolution of the U-Net of ``widths``.

    Weights ``[out, in, kt, ky, kx]``.
    """
    return [((c_out, c_in, k, k, k), (c_out,)) for c_in, c_out, k in conv_layers(widths)]


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
    widths : tuple of int
        Channels at the three levels, read from the shapes (:data:`DEFAULT_WIDTHS` or a compact network's).
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
        self.widths = widths_of(found)
        if self.widths is None:
            raise ValueError(f"convolutions: not the shapes of a U-Net (for widths {DEFAULT_WIDTHS}: "
                             f"{convolution_shapes()}), got {found}")
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

        model = UNet(softmax=self.softmax, widths=self.widths)
        with torch.no_grad():
            for (weight, bias), conv in zip(self.convolutions, model.convs):
                conv.weight.copy_(torch.from_numpy(weight))
                conv.bias.copy_(torch.from_numpy(bias))
        return model.eval()


def model_widths(model) -> tuple[int, int, int]:
    """The widths (channels per level) of ``model``, a UNet or UNetWeights (:data:`DEFAULT_WIDTHS` if it has none)."""
    return tuple(getattr(model, "widths", DEFAULT_WIDTHS))


def unet_arrays(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``(weight, bias)`` float32 arrays of every convolution of ``model`` (a UNet or UNetWeights)."""
    if isinstance(model, UNetWeights):
        return model.convolutions
    return [(conv.weight.detach().cpu().float().numpy(), conv.bias.detach().cpu().float().numpy())
            for conv in model.convs]
