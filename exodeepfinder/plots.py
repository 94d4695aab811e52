"""Figures of movies, segmentations and events (matplotlib Figures; save them with
:func:`exodeepfinder.io.figures.save_figure`).

Every function returns a :class:`matplotlib.figure.Figure` made without pyplot (no global
state, no display needed) and reads only what it draws, so movies and label maps may be lazy.
"""

from __future__ import annotations

import numpy as np

LABEL_COLOURS = ("black", "tab:green", "tab:red")  # background, bright spot, event


def orthoslices(volume):
    """The three central slices of a ``[t, y, x]`` array-like: (y, x) at the middle frame, (t, x), (t, y).

    Only those slices are read, so ``volume`` may be a lazy h5py dataset.
    """
    n_t, n_y, n_x = volume.shape
    return (np.asarray(volume[n_t // 2]), np.asarray(volume[:, n_y // 2, :]), np.asarray(volume[:, :, n_x // 2]))


def orthoslices_figure(volume, *, title="", is_labels=False):
    """The :func:`orthoslices` of a movie (grey) or of a label map (``is_labels``: one colour per class)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    style = dict(cmap=ListedColormap(LABEL_COLOURS), vmin=0, vmax=2, interpolation="nearest") if is_labels \
        else dict(cmap="gray")
    frame, t_by_x, t_by_y = orthoslices(volume)
    n_t, n_y, n_x = volume.shape
    figure = Figure(figsize=(15, 5))
    axes = figure.subplots(1, 3)
    for axis, image, name in ((axes[0], frame, f"frame {n_t // 2} (y, x)"),
                              (axes[1], t_by_x, f"y = {n_y // 2} (t, x)"),
                              (axes[2], t_by_y, f"x = {n_x // 2} (t, y)")):
        axis.imshow(image, aspect="auto", **style)
        axis.set_title(name)
    figure.suptitle(title)
    return figure


def max_projection(movie, block: int = 64) -> np.ndarray:
    """Maximum over frames, read block of frames by block of frames."""
    projection = None
    for start in range(0, movie.shape[0], block):
        frames = np.asarray(movie[start:start + block]).max(axis=0)
        projection = frames if projection is None else np.maximum(projection, frames)
    return projection


def _display_range(image):
    low, high = np.percentile(image, (1, 99.8))
    return float(low), float(max(high, low + 1))


def events_figure(projection, events, title=""):
    """A matplotlib Figure: the events (circles coloured by score or frame) over ``projection``."""
    from matplotlib.figure import Figure

    height, width = projection.shape
    scale = 8.0 / max(height, width)
    figure = Figure(figsize=(max(width * scale, 3) + 1.2, max(height * scale, 3) + 0.6), dpi=150)
    axes = figure.add_subplot()
    low, high = _display_range(projection)
    axes.imshow(projection, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    if len(events):
        by_score = "score" in events.columns and events["score"].notna().any()
        values = events["score"] if by_score else events["t"]
        from matplotlib import colormaps
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        norm = Normalize(float(values.min()), float(max(values.max(), values.min() + 1e-6)))
        colours = colormaps["autumn"](norm(values.to_numpy(float)))
        axes.scatter(events["x"], events["y"], s=60, facecolors="none", edgecolors=colours, linewidths=1.0)
        bar = figure.colorbar(ScalarMappable(norm, "autumn"), ax=axes, fraction=0.04, pad=0.02)
        bar.set_label("event score" if by_score else "frame")
    axes.set_title(title or f"{len(events)} events over the maximum projection", fontsize=9)
    axes.set_xlim(-0.5, width - 0.5)
    axes.set_ylim(height - 0.5, -0.5)
    axes.set_axis_off()
    figure.tight_layout()
    return figure


def gallery_figure(movie, events, *, n_events=40, half_width=8, frames=(-1, 0, 1, 2, 3), columns=4):
    """A matplotlib Figure: for the best-scored events, a strip of crops at frames ``t + frames``."""
    from matplotlib.figure import Figure

    if "score" in events.columns:
        chosen = events.sort_values("score", ascending=False, kind="stable").head(n_events)
    else:
        chosen = events.head(n_events)
    n_rows = max(1, -(-len(chosen) // columns))
    n_frames, height, width = movie.shape
    width_in, height_in = columns * 0.45 * len(frames), n_rows * 0.62 + 0.3
    figure = Figure(figsize=(width_in, height_in), dpi=150)
    figure.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.3 / height_in, wspace=0.06, hspace=0.45)
    size = 2 * half_width + 1
    for i, (_, event) in enumerate(chosen.iterrows()):
        t, y, x = int(round(event["t"])), int(round(event["y"])), int(round(event["x"]))
        strip = np.zeros((size, size * len(frames)), np.float32)
        for j, dt in enumerate(frames):
            f = t + dt
            if not 0 <= f < n_frames:
                continue
            y0, x0 = max(y - half_width, 0), max(x - half_width, 0)
            crop = np.asarray(movie[f, y0:min(y + half_width + 1, height), x0:min(x + half_width + 1, width)],
                              np.float32)
            oy, ox = y0 - (y - half_width), x0 - (x - half_width)
            strip[oy:oy + crop.shape[0], j * size + ox:j * size + ox + crop.shape[1]] = crop
        axes = figure.add_subplot(n_rows, columns, i + 1)
        visible = strip[strip > 0]
        low, high = _display_range(visible) if visible.size else (0, 1)
        axes.imshow(strip, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
        label = f"t={t} y={y} x={x}"
        if "score" in event.index and np.isfinite(event["score"]):
            label += f" s={event['score']:.2f}"
        axes.set_title(label, fontsize=4.5, pad=1.5)
        axes.set_axis_off()
    figure.suptitle(f"frames t{frames[0]:+d} to t{frames[-1]:+d} around the {len(chosen)} best-scored events",
                    fontsize=6)
    return figure
