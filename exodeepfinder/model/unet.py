"""The ExoDeepFinder 3D U-Net (DeepFinder architecture) in PyTorch.

Inputs are ``(batch, 1, t, y, x)`` patches; pooling and upsampling act on y and x only, so
``y`` and ``x`` must be multiples of 4. The layers, in the order the Keras weights list them,
are given by :data:`CONV_LAYERS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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


class UNet(nn.Module):
    """3D U-Net that maps a normalised movie patch to class scores.

    Parameters
    ----------
    softmax : bool
        If True (default) ``forward`` returns class probabilities (softmax over the 3 classes),
        as the reference network; if False it returns the logits.

    Notes
    -----
    Keras' 'same' padding of the size-2 convolutions pads 0 voxels before and 1 after on each
    axis; :meth:`forward` reproduces it so that the official weights give the same outputs.
    """

    def __init__(self, softmax: bool = True):
        super().__init__()
        self.softmax = softmax
        self.convs = nn.ModuleList(
            nn.Conv3d(c_in, c_out, k, padding=1 if k == 3 else 0) for c_in, c_out, k in CONV_LAYERS
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
