"""The training history: one record per epoch, its HDF5 file and its plot.

``net_train_history.h5`` holds one dataset per quantity, one row per epoch (all stages, in
order), with the reference names: ``loss``, ``acc`` (training, mean over the epoch's steps),
``val_loss``, ``val_acc``, ``val_precision``, ``val_recall``, ``val_f1`` (validation; the
last three have one column per class: background, bright spot, event), plus ``stage``,
``epoch``, ``patch_size``, ``batch_size``, ``random_shift``, ``learning_rate`` and
``seconds`` (wall time of the epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output

CLASS_NAMES = ("background", "bright spot", "event")


@dataclass
class EpochRecord:
    """What one epoch did (``stage`` and ``epoch`` count from 1; ``epoch`` runs over all stages)."""

    stage: int
    epoch: int
    patch_size: int
    batch_size: int
    random_shift: int
    learning_rate: float
    loss: float
    acc: float
    val_loss: float
    val_acc: float
    val_precision: np.ndarray
    val_recall: np.ndarray
    val_f1: np.ndarray
    seconds: float


_FIELDS = [f.name for f in fields(EpochRecord)]
_PER_CLASS = ("val_precision", "val_recall", "val_f1")
_INTEGERS = ("stage", "epoch", "patch_size", "batch_size", "random_shift")


class History(list):
    """A list of :class:`EpochRecord`, with column access: ``history["val_f1"]`` is an array."""

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in _FIELDS:
                raise KeyError(key)
            return np.asarray([getattr(record, key) for record in self])
        result = super().__getitem__(key)
        return History(result) if isinstance(key, slice) else result

    def to_arrays(self) -> dict:
        """One array per quantity, one row per epoch."""
        arrays = {}
        for name in _FIELDS:
            values = [getattr(record, name) for record in self]
            if name in _PER_CLASS:
                arrays[name] = np.asarray(values, np.float64).reshape(len(self), len(CLASS_NAMES))
            elif name in _INTEGERS:
                arrays[name] = np.asarray(values, np.int64)
            else:
                arrays[name] = np.asarray(values, np.float64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict) -> "History":
        n = len(arrays["loss"])
        records = []
        for i in range(n):
            values = {}
            for name in _FIELDS:
                value = arrays[name][i]
                if name in _PER_CLASS:
                    values[name] = np.asarray(value, np.float64)
                elif name in _INTEGERS:
                    values[name] = int(value)
                else:
                    values[name] = float(value)
            records.append(EpochRecord(**values))
        return cls(records)


def save_history(history: History, path, *, overwrite: bool = False) -> Path:
    """Write ``history`` to an HDF5 file (atomically; an existing file replaced only with ``overwrite``)."""
    import h5py

    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp, h5py.File(tmp, "w") as handle:
        handle.attrs["class_names"] = np.array([n.encode() for n in CLASS_NAMES])
        for name, values in history.to_arrays().items():
            handle.create_dataset(name, data=values)
    return path


def read_history(path) -> History:
    """Read a history written by :func:`save_history`."""
    from ..io.h5 import open_h5_file

    path = Path(path)
    with open_h5_file(path, "training history") as handle:
        missing = [name for name in _FIELDS if name not in handle]
        if missing:
            raise InputError(f"{path}: not a training history of this package (missing {', '.join(missing)})")
        return History.from_arrays({name: handle[name][()] for name in _FIELDS})


def plot_history(history: History):
    """Figure of the history: losses, accuracies, and per-class F1, precision and recall.

    Dotted vertical lines mark the start of each training stage.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    epochs = history["epoch"]
    figure = Figure(figsize=(12, 10), layout="constrained")
    axes = figure.subplots(3, 2).ravel()
    panels = [
        ("Loss", [("train", history["loss"]), ("validation", history["val_loss"])]),
        ("Accuracy", [("train", history["acc"]), ("validation", history["val_acc"])]),
    ]
    for name, title in (("val_f1", "Validation F1"), ("val_precision", "Validation precision"),
                        ("val_recall", "Validation recall")):
        values = history[name].reshape(len(history), len(CLASS_NAMES))
        panels.append((title, [(label, values[:, i]) for i, label in enumerate(CLASS_NAMES)]))
    stage_starts = [r.epoch for previous, r in zip(history[:-1], history[1:]) if r.stage != previous.stage]
    for axis, (title, curves) in zip(axes, panels):
        for label, values in curves:
            axis.plot(epochs, values, label=label, marker="." if len(epochs) < 30 else None)
        for start in stage_starts:
            axis.axvline(start - 0.5, color="grey", linestyle=":", linewidth=1)
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend(fontsize="small")
    last = axes[len(panels)]
    last.axis("off")
    if len(history):
        final = history[-1]
        lines = [f"{len(history)} epochs, {history[-1].stage} stage(s)"]
        lines += [f"stage {r.stage}: patch {r.patch_size}, batch {r.batch_size}, shift {r.random_shift}"
                  for r in history if r is history[0] or r.epoch in stage_starts]
        lines += [f"last validation F1: " + ", ".join(f"{n} {v:.3f}" for n, v in zip(CLASS_NAMES, final.val_f1))]
        last.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=9)
    return figure


def save_history_plot(history: History, path, *, overwrite: bool = False) -> Path:
    """Draw :func:`plot_history` into a PNG file (atomically; an existing file replaced only with ``overwrite``)."""
    from ..io.figures import save_figure

    return save_figure(plot_history(history), path, dpi=100, overwrite=overwrite)

