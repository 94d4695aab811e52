"""Review and annotate widget: accept, reject, add, delete and move events; side views; intensity trace.

- Events live in a points layer ``[t, y, x]`` (detected events, or a new annotation layer).
- Every event has a review state, the layer's feature ``review``
  (:data:`~exodeepfinder.io.events.REVIEW_STATES`): ``unreviewed``, ``accepted``, ``rejected`` (kept in
  the layer and the CSV as a negative example, drawn as a red cross) or ``added`` (by hand). A layer
  without the feature gets it, all ``unreviewed``, when the widget takes it.
- Keys in the viewer: ``A`` accepts and ``R`` rejects the selected events (then, unless unticked,
  go on to the next event), ``U`` goes to the next most uncertain unreviewed event
  (:func:`~exodeepfinder.events.review.most_uncertain_order`), ``E`` adds an event at the mouse,
  ``M`` moves the selected event there, ``N`` / ``B`` jump to the next / previous event (in time),
  ``Delete`` removes the selected event (napari's own key, in the points layer's select mode;
  the button works in any mode).
- A progress line: "23 of 41 reviewed" (accepted, rejected and added events are reviewed).
- Side views: the t-x plane through the cross's row and the t-y plane through its column
  (kymographs, time downwards) over a window of frames around the current one. The cross (two
  red lines, layer ``side views planes``) follows the mouse over the movie (unless unticked),
  jumps to the selected event, and its lines can be dragged. A click in a side view goes to that
  frame and moves the cross along the plane. The current frame is the dashed line; events near
  the plane are circles.
- The intensity trace (ΔF/F0 over frames, :func:`exodeepfinder.events.measure.event_trace`) of the
  selected event.
- Save the events as CSV (all columns, the review states included: what ``exodeepfinder adapt``
  reads) or as a reference XML annotation of the accepted and added events (the unreviewed ones too
  if the user says so when asked). Files are written atomically; an existing file is replaced only
  when the save dialog confirmed it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgba
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (QCheckBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel,
                            QMessageBox, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from .. import layers
from ...events.measure import event_trace
from ...events.review import (most_uncertain_order, progress_text, reference_events, review_counts, review_states,
                              uncertainty_column)
from ...io.events import REVIEW_COLUMN
from ._common import (ROLE_KEY, LayerChoice, add_layer, connect_while_alive, is_events_layer, is_movie_layer,
                      layer_path, section_title)
from ._plots import FOREGROUND, make_canvas, style_axes

#: Name of the shapes layer showing the side views' planes (a red cross of two lines) over the movie.
CROSS_LAYER = "side views planes"
#: Events this close (pixels) to a side view's plane are drawn in it.
NEAR_PLANE = 3
KEYS = {"accept": "A", "reject": "R", "uncertain": "U", "add": "E", "move": "M", "next": "N", "previous": "B"}
#: Default file names beside the movie: the corrected events that ``exodeepfinder adapt`` reads, the expert annotation.
CORRECTIONS_NAME = "corrected_events.csv"
ANNOTATION_NAME = "expert_annotation.xml"


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

        self._slots = {"accept": self.accept_selected, "reject": self.reject_selected,
                       "uncertain": self.next_uncertain_event, "add": self.add_event_at_cursor,
                       "move": self.move_selected_to_cursor, "next": self.next_event, "previous": self.previous_event}
        buttons = {
            "accept": (f"Accept [{KEYS['accept']}]", self.accept_selected),
            "reject": (f"Reject [{KEYS['reject']}]", self.reject_selected),
            "uncertain": (f"Next most uncertain [{KEYS['uncertain']}]", self.next_uncertain_event),
            "add": (f"Add at cursor [{KEYS['add']}]", self.add_event_at_cursor),
            "delete": ("Delete selected [Del]", self.delete_selected),
            "move": (f"Move selected to cursor [{KEYS['move']}]", self.move_selected_to_cursor),
            "previous": (f"◀ Previous [{KEYS['previous']}]", self.previous_event),
            "next": (f"Next [{KEYS['next']}] ▶", self.next_event),
        }
        tips = {"accept": "the selected events are real events (a hand-added event stays 'added')",
                "reject": "the selected events are not events: they stay in the layer and the CSV as negatives",
                "uncertain": "the unreviewed event whose confidence (or score) is closest to the decision",
                "delete": "remove the selected events (a wrong detection is better rejected: R)"}
        grid = QGridLayout()
        self.buttons = {}
        places = {"accept": (0, 0, 1, 1), "reject": (0, 1, 1, 1), "uncertain": (1, 0, 1, 2), "add": (2, 0, 1, 1),
                  "delete": (2, 1, 1, 1), "move": (3, 0, 1, 2), "previous": (4, 0, 1, 1), "next": (4, 1, 1, 1)}
        for key, (text, slot) in buttons.items():
            button = QPushButton(text)
            button.clicked.connect(slot)
            if key in tips:
                button.setToolTip(tips[key])
            self.buttons[key] = button
            grid.addWidget(button, *places[key])
        self.progress = QLabel("")
        self.progress.setWordWrap(True)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.0, 1.0)
        self.threshold.setSingleStep(0.05)
        self.threshold.setDecimals(2)
        self.threshold.setValue(0.5)
        self.threshold.setToolTip("the score at which an event is decided: 'Next most uncertain' goes to the "
                                  "unreviewed events whose score is closest to it (a calibrated 'confidence' "
                                  "column, when the events have one, is ranked around 0.5 instead)")
        self.ranking = QLabel("")
        self.ranking.setWordWrap(True)
        self.advance = QCheckBox("After A / R, go on to the next event")
        self.advance.setChecked(True)
        self.advance.setToolTip("the next most uncertain event after U, the next in time after N / B")
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
        uncertain = QHBoxLayout()
        uncertain.addWidget(QLabel("Decision threshold (score)"))
        uncertain.addWidget(self.threshold)
        uncertain.addStretch(1)
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
        layout.addWidget(self.progress)
        layout.addLayout(grid)
        layout.addWidget(self.advance)
        layout.addLayout(uncertain)
        layout.addWidget(self.ranking)
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
        self._navigation = "time"   # the order A / R go on in: "time" (N / B) or "uncertain" (U)
        connect_while_alive(self, napari_viewer.cursor.events.position, self._on_mouse)
        connect_while_alive(self, napari_viewer.dims.events.current_step, self._schedule_redraw)
        self.events_choice.currentIndexChanged.connect(self._watch_events_layer)
        self.movie_choice.currentIndexChanged.connect(self._on_movie_changed)
        self.half_window.valueChanged.connect(self._schedule_redraw)
        self.threshold.valueChanged.connect(self._show_progress)
        for name, key in KEYS.items():
            napari_viewer.bind_key(key, _key_callback(self._slots[name]), overwrite=True)
        self.destroyed.connect(lambda *_: _unbind_keys(napari_viewer))
        self.destroyed.connect(lambda *_: _unbind_keys(self._watched))
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
            for signal in (self._watched.events.data, self._watched.selected_data.events.items_changed,
                           self._watched.events.features):
                try:
                    signal.disconnect(self._on_events_changed)
                except (TypeError, ValueError, RuntimeError):
                    pass
            _unbind_keys(self._watched)
        self._watched = self.events_layer()
        if self._watched is not None:
            self._ensure_review_column(self._watched)
            self._restyle(self._watched)
            connect_while_alive(self, self._watched.events.data, self._on_events_changed)
            connect_while_alive(self, self._watched.selected_data.events.items_changed, self._on_events_changed)
            connect_while_alive(self, self._watched.events.features, self._on_events_changed)
            # napari binds A (select all in the slice) to points layers: the layer's own binding wins over it
            for name, key in KEYS.items():
                self._watched.bind_key(key, _key_callback(self._slots[name]), overwrite=True)
        self._on_events_changed()

    def _on_movie_changed(self, *_):
        self._block = None
        movie = self.movie()
        if movie is not None and self.cross is None:
            self.set_cross(movie.shape[1] / 2, movie.shape[2] / 2)
        self._schedule_redraw()

    def _on_events_changed(self, event=None):
        layer = self._watched
        if layer is not None and event is not None and getattr(event, "source", None) is layer:
            if getattr(event, "type", "") == "features":
                self._ensure_review_column(layer)   # features replaced (the Detect widget's sliders)
                self._restyle(layer)
            elif str(getattr(event, "action", "")) == "added":
                # points added by hand (E, napari's add mode: Points.add, whose indices count from the end) are
                # added events; napari gave them the features of the last selected point. Data set as a whole
                # (a script, the Detect widget's sliders) is not.
                indices = [len(layer.data) + int(i) for i in getattr(event, "data_indices", ()) if int(i) < 0]
                self._mark_added(layer, indices)
            elif str(getattr(event, "action", "")) == "removed":
                self._restyle(layer)
        self._show_progress()
        self._show_selected_info()
        self._schedule_redraw()

    # ---- review states ----------------------------------------------------------------------
    @staticmethod
    def _ensure_review_column(layer) -> None:
        """Give the layer a ``review`` feature, all unreviewed, if it has none."""
        features = layer.features
        if REVIEW_COLUMN not in features.columns and len(features) == len(layer.data):
            features = features.copy()
            features[REVIEW_COLUMN] = pd.Series(["unreviewed"] * len(features), index=features.index, dtype=object)
            layer.features = features

    @staticmethod
    def _restyle(layer) -> None:
        """Draw each point in the colour and symbol of its review state."""
        if REVIEW_COLUMN not in layer.features.columns or len(layer.features) != len(layer.data) \
                or len(layer.data) == 0:
            return
        features = layer.features
        classes = features["class_label"] if "class_label" in features.columns else None
        colors, symbols = layers.review_style(review_states(features), classes)
        layer.border_color = colors
        layer.symbol = symbols

    def events_table(self) -> pd.DataFrame | None:
        """The events of the layer as a table (``t, y, x``, features, ``review``), or None without a layer."""
        layer = self.events_layer()
        if layer is None:
            return None
        return layers.events_from_points(layer.data, layer.features)

    def review_states(self) -> np.ndarray:
        """The review state of each event of the layer."""
        layer = self.events_layer()
        return np.zeros(0, dtype=object) if layer is None else review_states(layer.features)

    def set_review_state(self, state: str, indices=None) -> None:
        """Give events ``indices`` (default: the selected ones) the review ``state``.

        Accepting a hand-added event keeps it ``added`` (it was no detection).
        """
        layer = self.events_layer()
        indices = sorted(layer.selected_data) if indices is None and layer is not None else indices
        if layer is None or not indices:
            self.info.setText("Select an event first (N, B or U go to one)")
            return
        self._set_states(layer, indices, state)

    def _mark_added(self, layer, indices) -> None:
        """Give points ``indices`` the features of a hand-added event: review ``added``, no score, no measurements.

        napari gives a new point the features of the last selected one (its score, its state...).
        """
        if not indices or len(layer.features) != len(layer.data):
            return
        features = layer.features.copy()
        for column, value in layers.new_event_defaults(features).items():
            if isinstance(value, float) and np.isnan(value) and not pd.api.types.is_float_dtype(features[column]):
                features[column] = features[column].astype(float)
            features.iloc[indices, features.columns.get_loc(column)] = value
        layer.features = features       # its features event redraws the points (_on_events_changed)

    def _set_states(self, layer, indices, state: str) -> None:
        if REVIEW_COLUMN not in layer.features.columns or len(layer.features) != len(layer.data):
            return
        states = review_states(layer.features)
        for index in indices:
            states[index] = "added" if state == "accepted" and states[index] == "added" else state
        features = layer.features.copy()
        features[REVIEW_COLUMN] = pd.Series(states, index=features.index, dtype=object)
        layer.features = features       # its features event redraws the points (_on_events_changed)

    def accept_selected(self):
        """Accept the selected events (real events), then go on to the next one."""
        self._review_and_go_on("accepted")

    def reject_selected(self):
        """Reject the selected events (not events; they stay in the layer as negatives), then go on."""
        self._review_and_go_on("rejected")

    def _review_and_go_on(self, state: str) -> None:
        layer = self.events_layer()
        if layer is None or not layer.selected_data:
            self.info.setText("Select an event first (N, B or U go to one)")
            return
        go_on = self.advance.isChecked() and len(layer.selected_data) == 1
        # the event after this one in the uncertainty order, taken before this one leaves the order
        after = self._next_uncertain() if go_on and self._navigation == "uncertain" else None
        self.set_review_state(state)
        if not go_on:
            return
        if self._navigation != "uncertain":
            self._step(+1)
        elif after is not None and review_states(layer.features)[after] == "unreviewed":
            self.go_to_event(after)
        else:
            self.info.setText(f"All {len(layer.data)} events are reviewed")

    def _next_uncertain(self) -> int | None:
        """The unreviewed event after the selected one in order of uncertainty (wrapping), or the first."""
        events = self.events_table()
        order = [] if events is None else list(most_uncertain_order(events, self.threshold.value()))
        selected = self.selected_event()
        if selected is not None and selected[0] in order:
            position = order.index(selected[0])
            order = order[position + 1:] + order[:position + 1]  # the selected one last
        return order[0] if order else None

    def next_uncertain_event(self):
        """Go to the next unreviewed event in order of uncertainty (closest to the decision first).

        From an unreviewed event, the one after it in that order; otherwise the most uncertain one.
        Returns its index, or None when every event is reviewed.
        """
        layer = self.events_layer()
        index = self._next_uncertain()
        if index is None:
            if layer is not None:
                self.info.setText(f"All {len(layer.data)} events are reviewed")
            return None
        self._navigation = "uncertain"
        self.go_to_event(index)
        return index

    def _show_progress(self, *_):
        events = self.events_table()
        if events is None:
            self.progress.setText("")
            self.ranking.setText("")
            return
        self.progress.setText(f"<b>{progress_text(events)}</b>")
        column = uncertainty_column(events)
        self.threshold.setEnabled(column == "score")
        self.ranking.setText({"confidence": "U ranks the unreviewed events by |confidence − 0.5|",
                              "score": f"U ranks the unreviewed events by |score − {self.threshold.value():.2f}|",
                              None: "U goes through the unreviewed events in time (they have no score)"}[column])

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
        # active after a drag of its lines: the review keys win over the shapes' (R rectangle, E ellipse...)
        for name, key in KEYS.items():
            layer.bind_key(key, _key_callback(self._slots[name]), overwrite=True)
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
        layer.add(position[None, :])    # an added event (see _on_events_changed)
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
        if review_states(layer.features)[index] == "unreviewed":  # a corrected detection is a reviewed one
            self.set_review_state("accepted", [index])
        self._on_events_changed()

    def _order(self, layer) -> np.ndarray:
        data = np.asarray(layer.data, float)
        return np.lexsort((data[:, 2], data[:, 1], data[:, 0])) if len(data) else np.zeros(0, int)

    def next_event(self):
        """Select the next event in time and show it."""
        self._navigation = "time"
        self._step(+1)

    def previous_event(self):
        """Select the previous event in time and show it."""
        self._navigation = "time"
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
        for column, label, form in (("score", "score", ".2f"), ("confidence", "confidence", ".2f"),
                                    ("cluster_size", "size", ".0f"), ("peak_dff", "peak ΔF/F0", ".2f")):
            if column in features.columns and index < len(features):
                value = features[column].iloc[index]
                if isinstance(value, (int, float, np.number)) and value == value:  # not NaN
                    text += f", {label} {value:{form}}"
        if REVIEW_COLUMN in features.columns and index < len(features):
            text += f"; <b>{review_states(features)[index]}</b>"
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

    # ---- saving -----------------------------------------------------------------------------
    def default_save_path(self, suffix: str) -> Path:
        """The file the save dialog proposes.

        The layer's own file (with ``suffix``) if it was read from one; else, beside the movie,
        ``corrected_events.csv`` (what ``exodeepfinder adapt`` reads) or ``expert_annotation.xml``
        (what ``edf_generate_segmentation`` reads).
        """
        layer = self.events_layer()
        movie_path = layer_path(self.movie_choice.layer())
        folder = movie_path.parent if movie_path is not None else Path.cwd()
        if layer is not None and layer_path(layer) is not None:
            return layer_path(layer).with_suffix(suffix)
        return folder / (CORRECTIONS_NAME if suffix == ".csv" else ANNOTATION_NAME)

    def save_dialog(self, suffix: str):
        """Ask where to save (the dialog asks before replacing a file), then save.

        Before an XML with unreviewed events, ask whether they belong in it.
        """
        what = "Events CSV (*.csv)" if suffix == ".csv" else "ExoDeepFinder annotation (*.xml)"
        path, _ = QFileDialog.getSaveFileName(self, "Save events", str(self.default_save_path(suffix)), what)
        if not path:
            return None
        include_unreviewed = False
        counts = review_counts(self.events_table()) if self.events_layer() is not None else None
        if suffix == ".xml" and counts and counts["unreviewed"]:
            answer = QMessageBox.question(
                self, "Unreviewed events",
                f"{counts['unreviewed']} of {counts['total']} events are not reviewed yet.\n\nThe annotation holds "
                "the accepted and added events. Include the unreviewed events as well?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.No)
            if answer == QMessageBox.StandardButton.Cancel:
                return None
            include_unreviewed = answer == QMessageBox.StandardButton.Yes
        # the dialog asked before replacing an existing file
        return self.save(path, overwrite=True, include_unreviewed=include_unreviewed)

    def save(self, path, *, overwrite: bool = False, include_unreviewed: bool = False) -> Path | None:
        """Write the events layer to ``path``, atomically; an existing file only with ``overwrite``.

        A ``.csv`` holds every event and column, the review states included (rejected events too,
        as negatives). A ``.xml`` is a reference annotation of the accepted and added events, and of
        the unreviewed ones with ``include_unreviewed``. Returns the path, or None (the status line
        says why).
        """
        from ...io.events import write_events

        events = self.events_table()
        if events is None:
            self.save_status.setText("No events layer to save")
            return None
        path = Path(path)
        xml = path.suffix.lower() != ".csv"
        saved = reference_events(events, include_unreviewed=include_unreviewed) if xml else events
        try:
            written = write_events(saved, path, overwrite=overwrite)
        except FileExistsError:
            self.save_status.setText(f"{path} exists: not replaced (choose it in 'Save…' to replace it)")
            return None
        except OSError as err:
            self.save_status.setText(f"{path}: not saved ({err.strerror or err})")
            return None
        if xml:
            counts = review_counts(events)
            left_out = [f"{counts['rejected']} rejected"] if counts["rejected"] else []
            if counts["unreviewed"] and not include_unreviewed:
                left_out.append(f"{counts['unreviewed']} unreviewed")
            text = f"Saved {len(saved)} events to {written}"
            text += f" (left out: {', '.join(left_out)})" if left_out else ""
        else:
            text = f"Saved {len(saved)} events to {written}: {progress_text(events)}"
        self.save_status.setText(text)
        return written


def _unbind_keys(keymap_provider) -> None:
    """Remove the widget's keys from a viewer or a layer (nothing if it is None)."""
    if keymap_provider is None:
        return
    for key in KEYS.values():
        try:
            keymap_provider.bind_key(key, None)
        except (KeyError, ValueError, RuntimeError):
            pass


def _key_callback(slot):
    """A viewer key binding that calls ``slot()`` (napari passes the viewer)."""
    def callback(viewer):
        slot()

    callback.__doc__ = slot.__doc__
    return callback
