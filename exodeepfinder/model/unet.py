"""The ExoDeepFinder 3D U-Net (DeepFinder architecture) in PyTorch.

Inputs are ``(batch, 1, t, y, x)`` patches; pooling and upsampling act on y and x only, so
``y`` and ``x`` must be multiples of 4. The layers, in the order the Keras weights list them,
are given by :func:`conv_layers` of the network's widths (channels at the three levels:
(32, 48, 64) for the reference network, :data:`CONV_LAYERS`; fewer for a compact network).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

N_CLASSES = 3

#: Channels at the three levels (full resolution, y and x halved, quartered) of the reference network.
DEFAULT_WIDTHS = (32, 48, 64)


def conv_layers(widths=DEFAULT_WIDTHS) -> tuple:
    """``(in_channels, out_channels, kernel_size)`` of every convolution of the U-Net of ``widths``, in Keras order."""
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


class UNet(nn.Module):
    """3D U-Net that maps a normalised movie patch to class scores.

    Parameters
    ----------
    softmax : bool
        If True (default) ``forward`` returns class probabilities (softmax over the 3 classes),
        as the reference network; if False it returns the logits.
    widths : tuple of 3 int
        Channels of the convolutions at full resolution, at y and x halved and quartered:
        (32, 48, 64) for the reference network (default), e.g. (16, 24, 32) for a compact one.

    Notes
    -----
    Keras' 'same' padding of the size-2 convolutions pads 0 voxels before and 1 after on each
    axis; :meth:`forward` reproduces it so that the official weights give the same outputs.
    """

    def __init__(self, softmax: bool = True, widths=DEFAULT_WIDTHS):
        super().__init__()
        self.softmax = softmax
        self.widths = tuple(int(w) for w in widths)
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"widths: expected 3 positive channel counts, got {widths!r}")
        self.convs = nn.ModuleList(
            nn.Conv3d(c_in, c_out, k, padding=1 if k == 3 else 0) for c_in, c_out, k in conv_layers(self.widths)
        )

    def _conv(self, index: int, x: torch.Tensor, relu: bool = True) -> torch.Tensor:
        conv = self.convs[index]
        if conv.kernel_size[0] == 2:
            x = F.pad(x, (0, 1, 0, 1, 0, 1))
        x = conv(x)
        return F.relu(x) if relu else x

    @staticmethod
    def _pool(x):
        return F.max_pool3d(x, kernel_size=(1, 2, 2))

    @staticmethod
    def _upsample(x):
        return F.interpolate(x, scale_factor=(1, 2, 2), mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._conv(1, self._conv(0, x))
        skip_a = x
        x = self._conv(3, self._conv(2, self._pool(x)))
        skip_b = x
        x = self._pool(x)
        for i in range(4, 8):
            x = self._conv(i, x)
        x = self._conv(8, self._upsample(x))
        x = torch.cat([x, skip_b], dim=1)
        x = self._conv(10, self._conv(9, x))
        x = self._conv(11, self._upsample(x))
        x = torch.cat([x, skip_a], dim=1)
        x = self._conv(13, self._conv(12, x))
        x = self._conv(14, x, relu=False)
        return torch.softmax(x, dim=1) if self.softmax else x
