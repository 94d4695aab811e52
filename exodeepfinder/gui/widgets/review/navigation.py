"""Editing and navigation of the Review widget: add, delete and move events; next, previous, go to one.

A mixin of :class:`~.widget.ReviewWidget`: it uses the widget's ``viewer``, ``events_layer()``,
``new_annotation_layer()``, ``info``, ``set_cross`` and ``set_review_state``.
"""

from __future__ import annotations

import numpy as np

from ....events.review import review_states
from ....io.events import REVIEW_COLUMN


class Navigation:
    """Where the events are and which one is selected (mixed into the Review widget)."""

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

