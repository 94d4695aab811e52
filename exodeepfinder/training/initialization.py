"""The network's starting weights: Keras' initialisation, and the classifier's biases set to the class priors."""

from __future__ import annotations

import numpy as np

from ..labels import N_CLASSES
from .sampling import PatchSampler


def keras_initialization(model) -> None:
    """Initialise like Keras' defaults (Glorot-uniform kernels, zero biases), as the reference network."""
    import torch

    with torch.no_grad():
        for conv in model.convs:
            torch.nn.init.xavier_uniform_(conv.weight)
            torch.nn.init.zeros_(conv.bias)


def class_frequencies(movies, patch_size: int, random_shift: int, *, n_patches: int = 256, seed=0,
                      **sampler_options) -> np.ndarray:
    """Fraction of the voxels of each class in training patches, drawn as the training draws them.

    The draws use their own generator (``seed``): the training's draws are unchanged.
    ``sampler_options``: as :class:`~exodeepfinder.training.sampling.PatchSampler` takes them.
    """
    sampler = PatchSampler(movies, patch_size, random_shift, np.random.default_rng(seed), augment=False,
                           **sampler_options)
    counts = np.zeros(N_CLASSES)
    for start in range(0, n_patches, 32):
        labels = sampler.sample(min(32, n_patches - start)).labels
        counts += np.bincount(labels.ravel(), minlength=N_CLASSES)[:N_CLASSES]
    return counts / counts.sum()


def set_prior_bias(model, frequencies, *, floor: float = 1e-3) -> None:
    """Set the classifier's biases to ``log(frequency)``: the untrained network then predicts the class frequencies.

    With zero biases it starts predicting a third of every class everywhere, and its first
    steps go into unlearning that. Frequencies below ``floor`` are raised to it.
    """
    import torch

    frequencies = np.maximum(np.asarray(frequencies, np.float64), floor)
    with torch.no_grad():
        model.convs[-1].bias.copy_(torch.as_tensor(np.log(frequencies / frequencies.sum())))
