"""A picture of each family: one frame of a movie, and crops of events and distractors over time.

To judge by eye whether a family looks like real TIRF movies (``python -m bench.evalsim show``).
"""

from __future__ import annotations

import numpy as np

#: Crops shown per family: frames from 2 before to 3 after the event (or distractor moment).
_FRAMES = range(-2, 4)
_HALF = 7


def _crop(movie, t, y, x):
    """Frames t-2..t+3 of a (2 * _HALF + 1)-pixel square around (y, x), side by side (edge-padded)."""
    padded = np.pad(movie, ((3, 4), (_HALF, _HALF), (_HALF, _HALF)), mode="edge")
    y, x = int(round(y)) + _HALF, int(round(x)) + _HALF
    return np.hstack([padded[t + 3 + k, y - _HALF:y + _HALF + 1, x - _HALF:x + _HALF + 1] for k in _FRAMES])


def _distractor_moments(objects, kinds, n_frames):
    """One (label, t, y, x) per distractor kind present: the middle of one of its objects."""
    moments = []
    for kind in kinds:
        part = objects[(objects["kind"] == kind) & objects["frame"].between(3, n_frames - 5)]
        if len(part):
            chosen = part[part["obj"] == part["obj"].iloc[len(part) // 2]]
            row = chosen.iloc[len(chosen) // 2]
            moments.append((kind, int(row["frame"]), row["y"], row["x"]))
    return moments


def family_figure(sims, n_events: int = 3):
    """A matplotlib Figure: per simulation (one per family) a frame, events and distractors.

    Parameters
    ----------
    sims : list of Simulation
        One movie per family (``sim.metadata['family']`` names the row).
    n_events : int
        Events shown per family (the brightest, the median and the dimmest by ``true_dff``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    kinds = ("flickering", "docking", "undocking", "moving", "blink")
    figure = Figure(figsize=(3 + 2.2 * (n_events + len(kinds)), 1.9 * len(sims)), layout="constrained")
    grid = figure.add_gridspec(len(sims), 1 + n_events + len(kinds),
                               width_ratios=[1.2] + [2.0] * (n_events + len(kinds)))
    for row, sim in enumerate(sims):
        movie = sim.movie.astype(float)
        axes = figure.add_subplot(grid[row, 0])
        axes.imshow(movie[len(movie) // 2], cmap="gray")
        axes.set_title(sim.metadata["family"], fontsize=9)
        axes.axis("off")
        ranked = sim.events.sort_values("true_dff", ascending=False)
        picks = ranked.iloc[np.linspace(0, len(ranked) - 1, n_events).round().astype(int)]
        panels = [(f"{e.release} {e.origin} dF/F {e.true_dff:.1f}", int(e.t), e.y, e.x) for e in picks.itertuples()]
        panels += _distractor_moments(sim.objects, kinds, len(movie))
        for column, (label, t, y, x) in enumerate(panels, start=1):
            axes = figure.add_subplot(grid[row, column])
            axes.imshow(_crop(movie, t, y, x), cmap="gray")
            axes.set_title(label, fontsize=7)
            axes.axis("off")
    figure.suptitle("evalsim: a frame, then crops t-2..t+3 of events (3 left) and distractors", fontsize=10)
    return figure
