"""Review and annotate widget: browse, add, delete and move events; side views; intensity trace.

- Events live in a points layer ``[t, y, x]`` (detected events, or a new annotation layer).
- Keys in the viewer: ``E`` adds an event at the mouse, ``M`` moves the selected event there,
  ``N`` / ``B`` jump to the next / previous event (in time), ``Delete`` removes the selected
  event (napari's own key, in the points layer's select mode; the button works in any mode).
- Side views: the t-x plane through the cross's row and the t-y plane through its column
  (kymographs, time downwards) over a window of frames around the current one. The cross (two
  red lines, layer ``side views planes``) follows the mouse over the movie (unless unticked),
  jumps to the selected event, and its lines can be dragged. A click in a side view goes to that
  frame and moves the cross along the plane. The current frame is the dashed line; events near
  the plane are circles.
- The intensity trace (ΔF/F0 over frames, :func:`exodeepfinder.events.measure.event_trace`) of the
  selected event.
- Save the events as CSV (all columns) or as a reference XML annotation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgba
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton,
                            QSpinBox, QVBoxLayout, QWidget)

from .. import layers
from ...events.measure import event_trace
from ._common import (ROLE_KEY, LayerChoice, add_layer, connect_while_alive, is_events_layer, is_movie_layer,
                      layer_path, section_title)
from ._plots import FOREGROUND, make_canvas, style_axes

#: Name of the shapes layer showing the side views' planes (a red cross of two lines) over the movie.
CROSS_LAYER = "side views planes"
#: Events this close (pixels) to a side view's plane are drawn in it.
NEAR_PLANE = 3
KEYS = {"add": "E", "move": "M", "next": "N", "previous": "B"}


def _prefer_events(layer) -> bool:
    return not layer.name.startswith("true ")


class ReviewWidget(QWidget):
    """Review detected events or annotate new ones on a movie."""

    def __init__(self, napari_viewer, parent=None):
        from napari.layers import Image, Points

        super().__init__(parent)
        self.viewer = napari_viewer
        self.events_choice = LayerChoice(napari_viewer, Points, accept=is_events_layer, prefer=_prefer_events)
        self.movie_choice = LayerChoice(napari_viewer, Image, accept=is_movie_layer)
        new_button = QPushButton("New annotation layer")
        new_button.setToolTip("an empty points layer for expert events (saved as expert_annotation.xml)")
        new_button.clicked.connect(self.new_annotation_layer)

        buttons = {
            "add": (f"Add at cursor [{KEYS['add']}]", self.add_event_at_cursor),
            "delete": ("Delete selected [Del]", self.delete_selected),
            "move": (f"Move selected to cursor [{KEYS['move']}]", self.move_selected_to_cursor),
            "previous": (f"◀ Previous [{KEYS['previous']}]", self.previous_event),
            "next": (f"Next [{KEYS['next']}] ▶", self.next_event),
        }
        grid = QGridLayout()
        self.buttons = {}
        places = {"add": (0, 0, 1, 1), "delete": (0, 1, 1, 1), "move": (1, 0, 1, 2), "previous": (2, 0, 1, 1),
                  "next": (2, 1, 1, 1)}
        for key, (text, slot) in buttons.items():
            button = QPushButton(text)
            button.clicked.connect(slot)
            self.buttons[key] = button
            grid.addWidget(button, *places[key])
        self.info = QLabel("No event selected")
        self.info.setWordWrap(True)

        self.follow_mouse = QCheckBox("Cross follows the mouse")
        self.follow_mouse.setChecked(True)
        self.half_window = QSpinBox()
        self.half_window.setRange(5, 500)
        self.half_window.setValue(30)
        self.half_window.setToolTip("frames shown before and after the current frame in the side views")
        self.figure, self.canvas = make_canvas(4, 9)
        self.axes_tx, self.axes_ty, self.axes_trace = self.figure.subplots(
            3, 1, gridspec_kw={"height_ratios": [1.2, 1.2, 1]})
        for axes in (self.axes_tx, self.axes_ty, self.axes_trace):
            style_axes(axes)
        self.canvas.mpl_connect("button_press_event", self._on_side_view_click)

        save_csv = QPushButton("Save CSV…")
        save_csv.clicked.connect(lambda: self.save_dialog(".csv"))
        save_xml = QPushButton("Save XML…")
        save_xml.clicked.connect(lambda: self.save_dialog(".xml"))
        self.save_status = QLabel("")
        self.save_status.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Events", self.events_choice)
        form.addRow("", new_button)
        form.addRow("Movie", self.movie_choice)
        view_options = QHBoxLayout()
        view_options.addWidget(self.follow_mouse)
        view_options.addStretch(1)
        view_options.addWidget(QLabel("± frames"))
        view_options.addWidget(self.half_window)
        saving = QHBoxLayout()
        saving.addWidget(save_csv)
        saving.addWidget(save_xml)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(grid)
        layout.addWidget(self.info)
        layout.addWidget(section_title("Side views and intensity trace"))
        layout.addLayout(view_options)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(saving)
        layout.addWidget(self.save_status)

        self.cross = None           # (y, x) of the side views' planes
        self._block = None          # ((movie id, t0, t1), frames t0..t1) read for the side views
        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(40)
        self._redraw_timer.timeout.connect(self.draw_side_views)
        self._watched = None
        connect_while_alive(self, napari_viewer.cursor.events.position, self._on_mouse)
        connect_while_alive(self, napari_viewer.dims.events.current_step, self._schedule_redraw)
        self.events_choice.currentIndexChanged.connect(self._watch_events_layer)
        self.movie_choice.currentIndexChanged.connect(self._on_movie_changed)
        self.half_window.valueChanged.connect(self._schedule_redraw)
        for name, key in KEYS.items():
            slot = {"add": self.add_event_at_cursor, "move": self.move_selected_to_cursor,
                    "next": self.next_event, "previous": self.previous_event}[name]
            napari_viewer.bind_key(key, _key_callback(slot), overwrite=True)
        self.destroyed.connect(lambda *_: _unbind_keys(napari_viewer))
        self._watch_events_layer()
        self._on_movie_changed()

    # ---- layers -----------------------------------------------------------------------------
    def events_layer(self):
        return self.events_choice.layer()

    def movie(self):
        layer = self.movie_choice.layer()
        return None if layer is None else layer.data

    def new_annotation_layer(self):
        """Add an empty events layer ``expert_annotation`` and choose it."""
        layer = add_layer(self.viewer, layers.events_layer(layers.empty_events(), name="expert_annotation"),
                          replace=False)
        self.events_choice.set_layer(layer)
        self.viewer.layers.selection.active = layer
        layer.mode = "select"
        return layer

    def _watch_events_layer(self, *_):
        if self._watched is not None:
            for signal in (self._watched.events.data, self._watched.selected_data.events.items_changed):
                try:
                    signal.disconnect(self._on_events_changed)
                except (TypeError, ValueError, RuntimeError):
                    pass
        self._watched = self.events_layer()
        if self._watched is not None:
            connect_while_alive(self, self._watched.events.data, self._on_events_changed)
            connect_while_alive(self, self._watched.selected_data.events.items_changed, self._on_events_changed)
        self._on_events_changed()

    def _on_movie_changed(self, *_):
        self._block = None
        movie = self.movie()
        if movie is not None and self.cross is None:
            self.set_cross(movie.shape[1] / 2, movie.shape[2] / 2)
        self._schedule_redraw()

    def _on_events_changed(self, *_):
        self._show_selected_info()
        self._schedule_redraw()

    # ---- positions --------------------------------------------------------------------------
    def _frame(self) -> int:
        return int(self.viewer.dims.current_step[0])

    def cursor_position(self) -> np.ndarray:
        """The mouse position over the movie as ``(t, y, x)``, t being the current frame."""
        position = np.asarray(self.viewer.cursor.position, float)[-3:]
        layer = self.events_layer()
        if layer is not None:
            position = np.asarray(layer.world_to_data(self.viewer.cursor.position), float)[-3:]
        position[0] = self._frame()
        return position

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
        if active is not None:  # keep the user's layer active
            self.viewer.layers.selection.active = active

    def _on_cross_dragged(self, event=None):
        """The user moved a plane's line (select mode of the layer): follow it."""
        layer = self.viewer.layers[CROSS_LAYER] if CROSS_LAYER in self.viewer.layers else None
        if layer is not None and len(layer.data) == 2:
            self.follow_mouse.setChecked(False)
            row, column = layer.data
            self.set_cross(float(np.mean(row[:, -2])), float(np.mean(column[:, -1])))

    # ---- editing ----------------------------------------------------------------------------
    def _require_events_layer(self):
        layer = self.events_layer()
        if layer is None:
            layer = self.new_annotation_layer()
        return layer

    def add_event_at_cursor(self):
        """Add an event at the mouse position in the current frame, and select it."""
        layer = self._require_events_layer()
        position = self.cursor_position()
        layer.add(position[None, :])
        colors = np.array(layer.border_color)
        colors[-1] = to_rgba(layers.EVENT_COLOR)
        layer.border_color = colors
        layer.selected_data = {len(layer.data) - 1}
        self.set_cross(*position[1:])
        self._on_events_changed()
        return position

    def delete_selected(self):
        """Remove the selected events."""
        layer = self.events_layer()
        if layer is not None and layer.selected_data:
            layer.remove_selected()

    def move_selected_to_cursor(self):
        """Move the selected event to the mouse position in the current frame."""
        layer = self.events_layer()
        if layer is None or len(layer.selected_data) != 1:
            self.info.setText("Select one event to move")
            return
        index = next(iter(layer.selected_data))
        data = np.array(layer.data, float)
        data[index] = self.cursor_position()
        layer.data = data
        layer.selected_data = {index}
        self._on_events_changed()

    def _order(self, layer) -> np.ndarray:
        data = np.asarray(layer.data, float)
        return np.lexsort((data[:, 2], data[:, 1], data[:, 0])) if len(data) else np.zeros(0, int)

    def next_event(self):
        """Select the next event in time and show it."""
        self._step(+1)

    def previous_event(self):
        """Select the previous event in time and show it."""
        self._step(-1)

    def _step(self, direction: int):
        layer = self.events_layer()
        if layer is None or len(layer.data) == 0:
            return
        order = list(self._order(layer))
        selected = sorted(layer.selected_data)
        if len(selected) == 1:
            position = order.index(selected[0]) + direction
        else:
            times = np.asarray(layer.data)[order, 0]
            frame = self._frame()
            position = int(np.searchsorted(times, frame, side="right")) if direction > 0 else \
                int(np.searchsorted(times, frame, side="left")) - 1
        position = int(np.clip(position, 0, len(order) - 1))
        self.go_to_event(order[position])

    def go_to_event(self, index: int):
        """Select event ``index`` of the events layer, show its frame and centre the view on it."""
        layer = self.events_layer()
        t, y, x = np.asarray(layer.data[index], float)
        layer.selected_data = {int(index)}
        self.viewer.dims.set_current_step(0, int(round(t)))
        # napari >= 0.9 keeps the camera in viewer.scene (viewer.camera is deprecated there)
        camera = self.viewer.scene.camera if hasattr(self.viewer, "scene") else self.viewer.camera
        camera.center = (y, x)
        self.set_cross(y, x)
        self._on_events_changed()

    # ---- display ----------------------------------------------------------------------------
    def selected_event(self):
        """``(index, (t, y, x))`` of the one selected event, or None."""
        layer = self.events_layer()
        if layer is None or len(layer.selected_data) != 1:
            return None
        index = next(iter(layer.selected_data))
        if index >= len(layer.data):
            return None
        return index, np.asarray(layer.data[index], float)

    def _show_selected_info(self):
        layer = self.events_layer()
        selected = self.selected_event()
        if layer is None:
            self.info.setText("No events layer: press 'New annotation layer' or run Detect")
            return
        if selected is None:
            self.info.setText(f"{len(layer.data)} events; none selected")
            return
        index, (t, y, x) = selected
        order = list(self._order(layer))
        text = f"Event {order.index(index) + 1} of {len(layer.data)}: frame {t:.0f}, y {y:.1f}, x {x:.1f}"
        features = layer.features
        for column, label, form in (("score", "score", ".2f"), ("cluster_size", "size", ".0f"),
                                    ("peak_dff", "peak ΔF/F0", ".2f")):
            if column in features.columns and index < len(features):
                value = features[column].iloc[index]
                if isinstance(value, (int, float, np.number)) and value == value:  # not NaN
                    text += f", {label} {value:{form}}"
        self.info.setText(text)

    def _schedule_redraw(self, *_):
        if self.isVisible():  # a hidden dock redraws when shown again
            self._redraw_timer.start()

    def _frames_block(self, movie, t0, t1):
        """Frames t0..t1 of the movie, read once for as long as the window does not move."""
        key = (id(movie), t0, t1)
        if self._block is None or self._block[0] != key:
            self._block = (key, np.asarray(movie[t0:t1]))
        return self._block[1]

    def showEvent(self, event):
        super().showEvent(event)
        self._schedule_redraw()

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
                axes.scatter(events[near, other], events[near, 0], s=60, facecolors="none", edgecolors="yellow",
                             linewidths=1.2)
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

    # ---- saving -----------------------------------------------------------------------------
    def default_save_path(self, suffix: str) -> Path:
        """Beside the movie: ``expert_annotation.xml`` for an annotation, ``<movie>_events.csv`` otherwise."""
        layer = self.events_layer()
        movie_path = layer_path(self.movie_choice.layer())
        folder = movie_path.parent if movie_path is not None else Path.cwd()
        if layer is not None and layer_path(layer) is not None:
            return layer_path(layer).with_suffix(suffix)
        if layer is not None and "annotation" in layer.name:
            return folder / f"expert_annotation{suffix}"
        stem = movie_path.stem if movie_path is not None else "events"
        return folder / f"{stem}_events{suffix}"

    def save_dialog(self, suffix: str):
        what = "Events CSV (*.csv)" if suffix == ".csv" else "ExoDeepFinder annotation (*.xml)"
        path, _ = QFileDialog.getSaveFileName(self, "Save events", str(self.default_save_path(suffix)), what)
        if path:
            self.save(path)

    def save(self, path) -> Path | None:
        """Write the events layer to ``path`` (CSV with every column, or reference XML)."""
        from ...io.events import write_events

        layer = self.events_layer()
        if layer is None:
            self.save_status.setText("No events layer to save")
            return None
        events = layers.events_from_points(layer.data, layer.features)
        written = write_events(events, path, overwrite=True)  # the save dialog confirmed a replacement
        self.save_status.setText(f"Saved {len(events)} events to {written}")
        return written


def _unbind_keys(viewer) -> None:
    for key in KEYS.values():
        viewer.bind_key(key, None)


def _key_callback(slot):
    """A viewer key binding that calls ``slot()`` (napari passes the viewer)."""
    def callback(viewer):
        slot()

    callback.__doc__ = slot.__doc__
    return callback
