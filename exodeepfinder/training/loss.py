"""The training loss of ExoDeepFinder: the Tversky index summed over classes."""

from __future__ import annotations

import torch

#: Weight of false positives (alpha) and false negatives (beta); 0.5 and 0.5 make it the soft Dice.
ALPHA = BETA = 0.5


def tversky_loss(probabilities: torch.Tensor, labels: torch.Tensor, *, alpha: float = ALPHA,
                 beta: float = BETA, eps: float = 1e-7) -> torch.Tensor:
    """Tversky loss of a batch: ``n_classes - sum over classes of TP / (TP + alpha FP + beta FN)``.

    TP, FP and FN are soft counts summed over the whole batch (all patches, all voxels), one per
    class, as in the reference. The loss lies between 0 (perfect) and ``n_classes``.

    Parameters
    ----------
    probabilities : Tensor, shape (n, n_classes, ...)
        Class probabilities (softmax output).
    labels : Tensor of int, shape (n, ...)
        True class of every voxel.

    Returns
    -------
    Tensor
        The loss (a scalar).
    """
    n_classes = probabilities.shape[1]
    probabilities = probabilities.float()
    truth = torch.nn.functional.one_hot(labels.long(), n_classes).movedim(-1, 1).to(probabilities.dtype)
    axes = [0] + list(range(2, probabilities.ndim))
    true_positives = (probabilities * truth).sum(axes)
    predicted = probabilities.sum(axes)
    actual = truth.sum(axes)
    false_positives = predicted - true_positives
    false_negatives = actual - true_positives
    index = true_positives / (true_positives + alpha * false_positives + beta * false_negatives + eps)
    return n_classes - index.sum()
