"""Matplotlib canvases inside dock widgets, drawn in colours that match napari's dark theme."""

from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

BACKGROUND = "#262930"   # napari's dark theme
FOREGROUND = "#d0d3d8"
GRID = "#3b3f47"


def make_canvas(width: float = 4, height: float = 3) -> tuple[Figure, FigureCanvasQTAgg]:
    """A figure and its Qt canvas (dark background, light text)."""
    figure = Figure(figsize=(width, height), facecolor=BACKGROUND, layout="constrained")
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(int(height * 60))
    return figure, canvas


def style_axes(axes) -> None:
    """Light text and frame on the dark background."""
    axes.set_facecolor(BACKGROUND)
    for spine in axes.spines.values():
        spine.set_color(FOREGROUND)
    axes.tick_params(colors=FOREGROUND, labelsize=8)
    axes.xaxis.label.set_color(FOREGROUND)
    axes.yaxis.label.set_color(FOREGROUND)
    axes.title.set_color(FOREGROUND)
    axes.xaxis.label.set_size(8)
    axes.yaxis.label.set_size(8)
    axes.title.set_size(9)
