"""Training losses: the reference Tversky loss, and Dice + cross-entropy (the default recipe's).

Every loss here works on soft counts summed over the whole batch (all patches, all voxels),
one count per class, as the reference does: a patch without events still weighs in the event
class through its false positives.

Why the default changed (measured in docs/training.md): the reference loss, ``3 - sum of the
soft Dice of the three classes``, rewards the background term first; from random weights the
network soon predicts background everywhere, the spot and event probabilities saturate near 0
and their gradients vanish. Cross-entropy keeps a gradient of ``p - 1`` on every misclassified
voxel however saturated the softmax is, and the Dice of the two foreground classes keeps the
rare classes from being outweighed by the background voxels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Weight of false positives (alpha) and false negatives (beta); 0.5 and 0.5 make it the soft Dice.
ALPHA = BETA = 0.5


def _soft_counts(probabilities: torch.Tensor, labels: torch.Tensor):
    """Soft true positives, predicted and actual totals of every class over the batch (float32)."""
    n_classes = probabilities.shape[1]
    probabilities = probabilities.float()
    axes = [0] + list(range(2, probabilities.ndim))
    labels = labels.long().unsqueeze(1)
    true_positives = probabilities.gather(1, labels).squeeze(1)
    true_positives = torch.zeros(n_classes, device=labels.device).index_add_(
        0, labels.flatten(), true_positives.flatten())
    predicted = probabilities.sum(axes)
    actual = torch.bincount(labels.flatten(), minlength=n_classes).to(probabilities.dtype)
    return true_positives, predicted, actual


def tversky_loss(probabilities: torch.Tensor, labels: torch.Tensor, *, alpha: float = ALPHA,
                 beta: float = BETA, eps: float = 1e-7) -> torch.Tensor:
    """Tversky loss of a batch (the reference's): ``n_classes - sum over classes of TP / (TP + alpha FP + beta FN)``.

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
    true_positives, predicted, actual = _soft_counts(probabilities, labels)
    false_positives = predicted - true_positives
    false_negatives = actual - true_positives
    index = true_positives / (true_positives + alpha * false_positives + beta * false_negatives + eps)
    return n_classes - index.sum()


def soft_dice(probabilities: torch.Tensor, labels: torch.Tensor, *, smooth: float = 1e-5) -> torch.Tensor:
    """Soft Dice of every class over the batch: ``(2 TP + smooth) / (predicted + actual + smooth)``.

    Returns
    -------
    Tensor, shape (n_classes,)
    """
    true_positives, predicted, actual = _soft_counts(probabilities, labels)
    return (2 * true_positives + smooth) / (predicted + actual + smooth)


def dice_loss(logits: torch.Tensor, labels: torch.Tensor, *, include_background: bool = False) -> torch.Tensor:
    """``1 - mean soft Dice`` of the foreground classes (of all classes with ``include_background``).

    ``logits``: network outputs before the softmax, shape (n, n_classes, ...).
    """
    dice = soft_dice(torch.softmax(logits.float(), dim=1), labels)
    return 1 - (dice if include_background else dice[1:]).mean()


def dice_ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy (mean over voxels) + ``1 - mean soft Dice of the foreground classes`` (nnU-Net's default).

    Parameters
    ----------
    logits : Tensor, shape (n, n_classes, ...)
        Network outputs before the softmax.
    labels : Tensor of int, shape (n, ...)
        True class of every voxel.

    Returns
    -------
    Tensor
        The loss (a scalar): 0 for a perfect, confident prediction.
    """
    logits = logits.float()
    cross_entropy = F.cross_entropy(logits, labels.long())
    dice = soft_dice(torch.softmax(logits, dim=1), labels)
    return cross_entropy + 1 - dice[1:].mean()


def reference_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The reference's Tversky loss of the softmax of ``logits``."""
    return tversky_loss(torch.softmax(logits.float(), dim=1), labels)


def cross_entropy_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy alone (mean over voxels)."""
    return F.cross_entropy(logits.float(), labels.long())


#: Loss of each recipe, by name (``--loss``): they all take the logits and the labels.
LOSS_FUNCTIONS = {
    "dice_ce": dice_ce_loss,
    "tversky": reference_loss,
    "dice": dice_loss,
    "ce": cross_entropy_loss,
}
