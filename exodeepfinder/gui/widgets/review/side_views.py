"""The Review widget's side views: the cross over the movie, the t-x and t-y planes through it, the trace.

The t-x plane through the cross's row and the t-y plane through its column (kymographs, time
downwards) over a window of frames around the current one; the cross (two red lines, layer
:data:`CROSS_LAYER`) follows the mouse, jumps to the selected event and can be dragged; the
intensity trace is the selected event's ΔF/F0 (:func:`exodeepfinder.events.measure.event_trace`).

A mixin of :class:`~.widget.ReviewWidget`: it uses the widget's ``viewer``, ``movie()``,
``events_layer()``, ``review_states()``, ``selected_event()`` and ``_frame()``.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import to_rgba
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QCheckBox, QHBoxLayout, QLabel

from ... import layers
from ....events.measure import event_trace
from .._common import ROLE_KEY, connect_while_alive, number_field
from .._plots import FOREGROUND, make_canvas, style_axes
from .keys import bind_keys

#: Name of the shapes layer showing the side views' planes (a red cross of two lines) over the movie.
CROSS_LAYER = "side views planes"
#: Events this close (pixels) to a side view's plane are drawn in it.
NEAR_PLANE = 3


class SideViews:
    """The cross and the side views (mixed into the Review widget)."""

    def _make_side_views(self) -> QHBoxLayout:
        """The options, the canvas (``self.canvas``) and the redraw timer; returns the options' row."""
        self.follow_mouse = QCheckBox("Cross follows the mouse")
        self.follow_mouse.setChecked(True)
        self.half_window = number_field(5, 500, 30, integer=True,
                                        tip="frames shown before and after the current frame in the side views")
        self.figure, self.canvas = make_canvas(4, 9)
        self.axes_tx, self.axes_ty, self.axes_trace = self.figure.subplots(
            3, 1, gridspec_kw={"height_ratios": [1.2, 1.2, 1]})
        for axes in (self.axes_tx, self.axes_ty, self.axes_trace):
            style_axes(axes)
        self.canvas.mpl_connect("button_press_event", self._on_side_view_click)
        self.cross = None           # (y, x) of the side views' planes
        self._block = None          # ((movie id, t0, t1), frames t0..t1) read for the side views
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(40)
        self._redraw_timer.timeout.connect(self.draw_side_views)
        self.half_window.valueChanged.connect(self._schedule_redraw)
        options = QHBoxLayout()
        options.addWidget(self.follow_mouse)
        options.addStretch(1)
        options.addWidget(QLabel("± frames"))
        options.addWidget(self.half_window)
        return options

    # ---- the cross --------------------------------------------------------------------------
    def _on_mouse(self, event=None):
        if self.follow_mouse.isChecked():
            position = np.asarray(self.viewer.cursor.position, float)[-2:]
            self.set_cross(*position)

    def set_cross(self, y: float, x: float) -> None:
        """Move the side views' planes (and the red cross) to row ``y``, column ``x``."""
        movie = self.movie()
        if movie is not None:
            y = float(np.clip(y, 0, movie.shape[1] - 1))
            x = float(np.clip(x, 0, movie.shape[2] - 1))
        if self.cross is not None and np.allclose(self.cross, (y, x)):
            return
        self.cross = (y, x)
        self._show_cross_layer()
        self._schedule_redraw()

    def _plane_lines(self) -> list[np.ndarray]:
        """The two planes of the side views as lines over the frame: row y (t-x view), column x (t-y view)."""
        height, width = self.movie().shape[1:]
        y, x = self.cross
        return [np.array([[y, -0.5], [y, width - 0.5]]), np.array([[-0.5, x], [height - 0.5, x]])]

    def _show_cross_layer(self):
        if self.cross is None or self.movie() is None:
            return
        lines = self._plane_lines()
        if CROSS_LAYER in self.viewer.layers:
            layer = self.viewer.layers[CROSS_LAYER]
            if len(layer.data) != 2 or not all(np.allclose(a, b) for a, b in zip(layer.data, lines)):
                with layer.events.data.blocker():
                    layer.data = lines
                layer.refresh()
            return
        active = self.viewer.layers.selection.active
        layer = self.viewer.add_shapes(lines, shape_type="line", name=CROSS_LAYER, edge_color="red", edge_width=0.25,
                                       opacity=0.5, metadata={ROLE_KEY: "side views planes"})
        connect_while_alive(self, layer.events.data, self._on_cross_dragged)
        # active after a drag of its lines: the review keys win over the shapes' (R rectangle, E ellipse...)
        bind_keys(layer, self._slots)
        if active is not None:  # keep the user's layer active
            self.viewer.layers.selection.active = active

    def _on_cross_dragged(self, event=None):
        """The user moved a plane's line (select mode of the layer): follow it."""
        layer = self.viewer.layers[CROSS_LAYER] if CROSS_LAYER in self.viewer.layers else None
        if layer is not None and len(layer.data) == 2:
            self.follow_mouse.setChecked(False)
            row, column = layer.data
            self.set_cross(float(np.mean(row[:, -2])), float(np.mean(column[:, -1])))

    # ---- drawing ----------------------------------------------------------------------------
    def _schedule_redraw(self, *_):
        if self.isVisible():  # a hidden dock redraws when shown again
            self._redraw_timer.start()

    def _frames_block(self, movie, t0, t1):
        """Frames t0..t1 of the movie, read once for as long as the window does not move."""
        key = (id(movie), t0, t1)
        if self._block is None or self._block[0] != key:
            self._block = (key, np.asarray(movie[t0:t1]))
        return self._block[1]

    def draw_side_views(self):
        """Redraw the t-x and t-y planes through the cross, and the selected event's trace."""
        for axes in (self.axes_tx, self.axes_ty, self.axes_trace):
            axes.clear()
            style_axes(axes)
        movie = self.movie()
        if movie is None or self.cross is None:
            self.axes_tx.set_title("open a movie")
            self.canvas.draw_idle()
            return
        n_frames = movie.shape[0]
        frame = min(self._frame(), n_frames - 1)
        half = self.half_window.value()
        # the window moves by whole halves so that following the frame rarely re-reads frames
        t0 = int(np.clip((frame // half) * half - half, 0, max(n_frames - 2 * half, 0)))
        t1 = min(t0 + 3 * half, n_frames)
        block = self._frames_block(movie, t0, t1)
        y, x = self.cross
        yi, xi = int(round(y)), int(round(x))
        low, high = np.percentile(block[:, max(yi - 20, 0):yi + 20, max(xi - 20, 0):xi + 20], [1, 99.8])
        events = self._events_array()
        states = self.review_states()
        colors = np.array(layers.review_style(states)[0] if len(states) == len(events)
                          else [layers.EVENT_COLOR] * len(events), dtype=object)
        for axes, plane, across, position, title, axis in (
                (self.axes_tx, block[:, yi, :], "x", y, f"t–x at y = {yi}", 1),
                (self.axes_ty, block[:, :, xi], "y", x, f"t–y at x = {xi}", 2)):
            axes.imshow(plane, cmap="gray", vmin=low, vmax=max(high, low + 1), aspect="auto", interpolation="nearest",
                        extent=(-0.5, plane.shape[1] - 0.5, t1 - 0.5, t0 - 0.5))
            axes.axhline(frame, color="#4fc3f7", lw=0.8, ls="--")
            axes.axvline(x if across == "x" else y, color="red", lw=0.6, alpha=0.7)
            if len(events):
                near = (np.abs(events[:, axis] - position) <= NEAR_PLANE) & (events[:, 0] >= t0) & (events[:, 0] < t1)
                other = 2 if axis == 1 else 1
                axes.scatter(events[near, other], events[near, 0], s=60, facecolors="none",
                             edgecolors=[to_rgba(color) for color in colors[near]], linewidths=1.2)
            axes.set_title(title)
            axes.set_xlabel(across)
            axes.set_ylabel("frame")
            axes.set_xlim(-0.5, plane.shape[1] - 0.5)
            axes.set_ylim(t1 - 0.5, t0 - 0.5)
        self._draw_trace(movie, frame)
        self.canvas.draw_idle()

    def _events_array(self) -> np.ndarray:
        layer = self.events_layer()
        return np.zeros((0, 3)) if layer is None else np.asarray(layer.data, float).reshape(-1, 3)

    def _draw_trace(self, movie, frame):
        axes = self.axes_trace
        selected = self.selected_event()
        axes.set_xlabel("frame")
        axes.set_ylabel("ΔF/F0")
        if selected is None:
            axes.set_title("intensity trace: select an event")
            return
        index, (t, y, x) = selected
        frames, dff = event_trace(movie, t, y, x)
        axes.plot(frames, dff, color="yellow", lw=1.2)
        axes.axvline(t, color=FOREGROUND, lw=0.6, alpha=0.6)
        axes.axvline(frame, color="#4fc3f7", lw=0.8, ls="--")
        axes.axhline(0, color=FOREGROUND, lw=0.4, alpha=0.5)
        axes.set_title(f"intensity trace of event at frame {t:.0f}")
        self.trace = (frames, dff)

    def _on_side_view_click(self, event):
        if event.inaxes not in (self.axes_tx, self.axes_ty) or event.xdata is None or self.cross is None:
            return
        movie = self.movie()
        frame = int(np.clip(round(event.ydata), 0, movie.shape[0] - 1))
        self.follow_mouse.setChecked(False)
        y, x = self.cross
        if event.inaxes is self.axes_tx:
            self.set_cross(y, event.xdata)
        else:
            self.set_cross(event.xdata, x)
        self.viewer.dims.set_current_step(0, frame)

