"""Segmentation scores from a confusion matrix: voxel accuracy and per-class precision, recall and F1."""

from __future__ import annotations

import numpy as np


def class_scores(confusion: np.ndarray) -> dict:
    """Accuracy and per-class precision, recall and F1 from a confusion matrix.

    A class never predicted has precision 0, a class never present recall 0 (as scikit-learn's
    ``precision_recall_fscore_support`` with ``zero_division=0``).

    Returns
    -------
    dict
        ``accuracy`` (float), ``precision``, ``recall``, ``f1`` (float arrays, one value per class).
    """
    confusion = np.asarray(confusion, np.float64)
    true_positives = np.diag(confusion)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)

    def ratio(a, b):
        return np.divide(a, b, out=np.zeros_like(a), where=b > 0)

    total = confusion.sum()
    return {
        "accuracy": float(true_positives.sum() / total) if total else 0.0,
        "precision": ratio(true_positives, predicted),
        "recall": ratio(true_positives, actual),
        "f1": ratio(2 * true_positives, predicted + actual),
    }
