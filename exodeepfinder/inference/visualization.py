"""Orthoslice pictures of a movie and its labels (the reference's ``--visualization``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LABEL_COLOURS = ("black", "tab:green", "tab:red")  # background, bright spot, event


def orthoslices(volume):
    """The three central slices of a ``[t, y, x]`` array-like: (y, x) at the middle frame, (t, x), (t, y).

    Only those slices are read, so ``volume`` may be a lazy h5py dataset.
    """
    n_t, n_y, n_x = volume.shape
    return (np.asarray(volume[n_t // 2]), np.asarray(volume[:, n_y // 2, :]), np.asarray(volume[:, :, n_x // 2]))


def save_orthoslices(movie, labels, folder, stem: str) -> list[Path]:
    """Save ``{stem}_movie_orthoslices.png`` and ``{stem}_labels_orthoslices.png`` in ``folder``.

    Returns the paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.colors import ListedColormap

    from ..io.atomic import atomic_output

    folder = Path(folder)
    written = []
    label_map = ListedColormap(LABEL_COLOURS)
    for name, volume, style in (("movie", movie, dict(cmap="gray")),
                                ("labels", labels, dict(cmap=label_map, vmin=0, vmax=2, interpolation="nearest"))):
        frame, t_by_x, t_by_y = orthoslices(volume)
        n_t, n_y, n_x = volume.shape
        figure, axes = plt.subplots(1, 3, figsize=(15, 5))
        for axis, image, title in ((axes[0], frame, f"frame {n_t // 2} (y, x)"),
                                   (axes[1], t_by_x, f"y = {n_y // 2} (t, x)"),
                                   (axes[2], t_by_y, f"x = {n_x // 2} (t, y)")):
            axis.imshow(image, aspect="auto", **style)
            axis.set_title(title)
        figure.suptitle(f"{stem}: {name}")
        path = folder / f"{stem}_{name}_orthoslices.png"
        with atomic_output(path) as tmp:
            figure.savefig(tmp, dpi=80)
        plt.close(figure)
        written.append(path)
    return written
